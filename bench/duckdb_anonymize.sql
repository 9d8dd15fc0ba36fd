-- DuckDB approximation of `txanon anonymize --schema schemas/transactions.toml`:
-- the query a user would write by hand to get a similar Parquet file.
--
-- Placeholders, filled in by bench/bench.py before the SQL is run:
--   {{INPUT}}   path of the CSV dump
--   {{OUTPUT}}  path of the Parquet file to write
--   {{KEY}}     the key as hex text (bench uses data-samples/demo.key)
--
-- Differences from txanon (see bench/README.md): tokens are salted SHA-256
-- (sha256(key || '|' || namespace || '|' || value), truncated to 128 bits
-- like txanon's default), not HKDF + HMAC-SHA256; phone numbers are cleaned
-- with regexes, not validated with libphonenumber; no NFKC (only full-width
-- digits and Unicode spaces are folded); e-mails get a shape check, not
-- UTS #46; no fail-closed schema check, no per-column statistics, no atomic
-- write. On the generated dumps it groups values like txanon does (same
-- number of distinct tokens per column), but that is not guaranteed in general.

SET threads = 2;

COPY (
    WITH src AS (
        -- all_varchar: read every field as text and cast explicitly below,
        -- which is what txanon does (no type sniffing).
        SELECT * FROM read_csv('{{INPUT}}', header = true, all_varchar = true)
    ),
    norm AS (
        SELECT
            txn_id,
            created_at,
            nullif(trim(account_id), '') AS account_n,
            -- Phone, "E.164-ish": drop a "(0)" trunk prefix, fold full-width
            -- digits, strip white space, dashes, dots and parentheses; below,
            -- a leading 00 becomes +, and bare 86xxxxxxxxxxx / 1xxxxxxxxxx
            -- (CN mobiles) get +86.
            regexp_replace(
                translate(replace(mobile, '(0)', ''), '０１２３４５６７８９＋', '0123456789+'),
                '[\s\-.()]', '', 'g') AS mobile_c,
            lower(trim(email)) AS email_n,
            -- Address: fold full-width digits, lowercase, collapse runs of
            -- (Unicode) white space to one space, drop spaces next to a
            -- non-ASCII character or one of , . ; : # - /, trim.
            nullif(trim(regexp_replace(regexp_replace(
                lower(translate(home_address, '０１２３４５６７８９', '0123456789')),
                '[\s\p{Z}]+', ' ', 'g'),
                ' ?([^\x00-\x7F]|[,.;:#/-]) ?', '\1', 'g')), '') AS home_n,
            nullif(trim(regexp_replace(regexp_replace(
                lower(translate(shipping_address, '０１２３４５６７８９', '0123456789')),
                '[\s\p{Z}]+', ' ', 'g'),
                ' ?([^\x00-\x7F]|[,.;:#/-]) ?', '\1', 'g')), '') AS ship_n,
            birth_date, amount, currency, merchant_id, channel, is_refund, item_count
        FROM src
    ),
    phone AS (
        SELECT *,
            CASE
                WHEN mobile_c LIKE '+%'                       THEN mobile_c
                WHEN mobile_c LIKE '00%'                      THEN '+' || mobile_c[3:]
                WHEN regexp_full_match(mobile_c, '861\d{10}') THEN '+' || mobile_c
                WHEN regexp_full_match(mobile_c, '1\d{10}')   THEN '+86' || mobile_c
            END AS mobile_e164
        FROM norm
    )
    SELECT
        txn_id,
        date_trunc('month', strptime(created_at, '%Y-%m-%d %H:%M:%S'))::DATE AS created_month,
        left(sha256('{{KEY}}' || '|account|' || account_n), 32) AS account_token,
        -- An invalid phone/e-mail becomes NULL, like txanon's on_invalid = "null".
        CASE WHEN regexp_full_match(mobile_e164, '\+[1-9]\d{6,14}')
             THEN left(sha256('{{KEY}}' || '|phone|' || mobile_e164), 32) END AS mobile_token,
        CASE WHEN regexp_full_match(email_n, '[^@\s]+@[^@\s]+\.[^@\s]+')
             THEN left(sha256('{{KEY}}' || '|email|' || email_n), 32) END AS email_token,
        -- Home and shipping address share one namespace, as in the schema.
        left(sha256('{{KEY}}' || '|address|' || home_n), 32) AS home_address_token,
        left(sha256('{{KEY}}' || '|address|' || ship_n), 32) AS shipping_address_token,
        date_trunc('year', birth_date::DATE)::DATE AS birth_year,
        amount::DECIMAL(12, 2) AS amount,
        currency,
        merchant_id,
        channel,
        is_refund::BOOLEAN AS is_refund,
        item_count::BIGINT AS item_count
    FROM phone
    -- customer_name, id_card and ip_address are dropped (never selected).
) TO '{{OUTPUT}}' (FORMAT parquet, COMPRESSION zstd);
