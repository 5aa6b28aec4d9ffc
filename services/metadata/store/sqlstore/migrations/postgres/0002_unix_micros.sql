-- Times as Unix microseconds in bigint columns named as on SQLite, so that
-- both engines run the same queries. extract(epoch ...) is numeric, hence
-- exact, on PostgreSQL 14 and later. The indexes on these columns are
-- rebuilt in place and keep their names.
ALTER TABLE videos
    ALTER COLUMN create_time TYPE bigint USING (extract(epoch FROM create_time) * 1000000)::bigint,
    ALTER COLUMN update_time TYPE bigint USING (extract(epoch FROM update_time) * 1000000)::bigint;
ALTER TABLE videos RENAME COLUMN create_time TO create_us;
ALTER TABLE videos RENAME COLUMN update_time TO update_us;

ALTER TABLE media_deletions
    ALTER COLUMN requested_at TYPE bigint USING (extract(epoch FROM requested_at) * 1000000)::bigint,
    ALTER COLUMN done_at TYPE bigint USING (extract(epoch FROM done_at) * 1000000)::bigint;
