-- Placeholder (branch dash2): slot 017 belongs to another branch; tern needs
-- contiguous numbers. Drop this file when that branch's 017 is merged.
SELECT 1;
