-- Placeholder (branch dash2): slot 018 belongs to another branch; tern needs
-- contiguous numbers. Drop this file when that branch's 018 is merged.
SELECT 1;
