ALTER TABLE instances
    DROP COLUMN IF EXISTS listing_digest_at,
    DROP COLUMN IF EXISTS listing_seen,
    DROP COLUMN IF EXISTS listing_digest;
