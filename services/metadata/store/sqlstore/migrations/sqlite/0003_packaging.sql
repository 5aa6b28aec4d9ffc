-- How the transcoder packages a video (metadatav1.Packaging: 0 automatic,
-- 1 clear, 2 encrypted), and whether its published segments are encrypted
-- (from transcode.completed).
ALTER TABLE videos ADD COLUMN packaging INTEGER NOT NULL DEFAULT 0;
ALTER TABLE videos ADD COLUMN encrypted INTEGER NOT NULL DEFAULT 0;
