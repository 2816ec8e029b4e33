-- A digest of each instance's last merged listing, so that a rerun whose listing is byte for
-- byte the same can skip the merge: nothing it could write would differ.

ALTER TABLE instances
    ADD COLUMN listing_digest    bytea,
    ADD COLUMN listing_seen      integer,
    ADD COLUMN listing_digest_at timestamptz;

COMMENT ON COLUMN instances.listing_digest IS
    'SHA-256 of the raw snapshot listing last merged whole (nothing but the listing staged); null when none.';
COMMENT ON COLUMN instances.listing_seen IS
    'Distinct snapshots in that listing.';
COMMENT ON COLUMN instances.listing_digest_at IS
    'The last_listed_at the digest was stored with: a merge that does not store a digest (an older exporter) leaves them different, and the digest is then ignored.';
