-- Placeholder (branch dash2): slot 019 belongs to another branch; tern needs
-- contiguous numbers. Drop this file when that branch's 019 is merged.
SELECT 1;
