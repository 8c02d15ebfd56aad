-- Placeholder on the `warm` branch for a number another branch takes
-- (tern needs contiguous numbers). Drop this file when merging that branch.
SELECT 1;
