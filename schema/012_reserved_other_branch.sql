-- Placeholder on the events2 branch only: 012 belongs to another branch
-- (tern needs contiguous numbers). Drop this file when merging after it.
SELECT 1;
