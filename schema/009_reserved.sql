-- Reserved for the store (numbers 001-009 are the store's, 010 and up the
-- events'). tern needs contiguous numbers, so this no-op keeps the slot.
SELECT 1;
