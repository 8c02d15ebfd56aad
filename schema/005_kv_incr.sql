-- picloud_kv_incr adds delta to the integer stored at (function, key) in one
-- round trip and returns the new value. A missing or expired key counts as
-- 0 (and the result has no expiry); an existing key keeps its expiry. A
-- value that is not an integer raises SQLSTATE PK001; overflow raises
-- numeric_value_out_of_range (22003).

CREATE FUNCTION picloud_kv_incr(p_function text, p_key text, p_delta bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    cur     jsonb;
    exp     timestamptz;
    result  bigint;
BEGIN
    LOOP
        SELECT value, expires_at INTO cur, exp
          FROM kv WHERE function = p_function AND key = p_key
           FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO kv (function, key, value) VALUES (p_function, p_key, to_jsonb(p_delta))
            ON CONFLICT (function, key) DO NOTHING;
            IF FOUND THEN
                RETURN p_delta;
            END IF;
            CONTINUE; -- a concurrent insert won; lock its row and retry
        END IF;
        IF exp IS NOT NULL AND exp <= now() THEN
            result := p_delta;
            exp := NULL;
        ELSIF jsonb_typeof(cur) <> 'number' OR cur::numeric <> trunc(cur::numeric) THEN
            RAISE EXCEPTION 'value at key % is not an integer', p_key USING ERRCODE = 'PK001';
        ELSE
            result := (cur::numeric + p_delta)::bigint;
        END IF;
        UPDATE kv SET value = to_jsonb(result), expires_at = exp, updated_at = now()
         WHERE function = p_function AND key = p_key;
        RETURN result;
    END LOOP;
END;
$$;
