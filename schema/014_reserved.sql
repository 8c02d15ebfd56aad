-- Reserved: this number belongs to another branch's migration. tern needs
-- contiguous numbers, so this no-op keeps the slot until it lands.
SELECT 1;
