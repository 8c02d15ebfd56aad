-- Placeholder for migration 016, which another branch of issue 13 takes:
-- tern needs contiguous numbers, and 017 is outbound HTTP's. At the merge
-- the real 016 replaces this file.
SELECT 1;
