-- Reserved: tern needs contiguous numbers and 014 (sessions) landed before
-- this slot's owner; a no-op keeps the slot. Replace with the real migration.
SELECT 1;
