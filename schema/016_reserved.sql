-- Placeholder (branch dash2): slot 016 belongs to another branch; tern needs
-- contiguous numbers. Drop this file when that branch's 016 is merged.
SELECT 1;
