-- A function's source is the exact bytes of the file the user deployed: Lua
-- strings are bytes, so a script may hold any byte (0x80-0xFF that are not
-- UTF-8, NUL inside a string literal), which text cannot store. Existing
-- sources are UTF-8 text and convert as they are. The sha256 column is the
-- hex sha256 of these bytes, as `sha256sum file.lua` prints it.
ALTER TABLE function_versions
    ALTER COLUMN source TYPE bytea USING convert_to(source, 'UTF8');
