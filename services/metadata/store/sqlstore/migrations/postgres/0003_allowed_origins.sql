-- The origins allowed to embed a video, space-separated (an origin holds
-- no space); empty means any.
ALTER TABLE videos ADD COLUMN allowed_origins text NOT NULL DEFAULT '';
