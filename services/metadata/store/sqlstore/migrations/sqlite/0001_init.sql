-- Videos. seq is the rowid the full-text index points at; id is the public id.
CREATE TABLE videos (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    creator         TEXT    NOT NULL,
    request_id      TEXT,
    title           TEXT    NOT NULL,
    description     TEXT    NOT NULL,
    tags            TEXT    NOT NULL,
    status          INTEGER NOT NULL,
    status_reason   TEXT    NOT NULL,
    duration_us     INTEGER NOT NULL,
    renditions      TEXT    NOT NULL,
    poster_path     TEXT    NOT NULL,
    storyboard_path TEXT    NOT NULL,
    hls_path        TEXT    NOT NULL,
    dash_path       TEXT    NOT NULL,
    policy          TEXT    NOT NULL,
    gated           INTEGER NOT NULL,
    upload_id       TEXT    NOT NULL,
    media_info      TEXT    NOT NULL,
    create_us       INTEGER NOT NULL,
    update_us       INTEGER NOT NULL,
    version         INTEGER NOT NULL,
    UNIQUE (creator, request_id)
);

-- List order is (create_us DESC, id DESC) within a status or a creator.
CREATE INDEX videos_status_order ON videos (status, create_us DESC, id DESC);
CREATE INDEX videos_creator_order ON videos (creator, create_us DESC, id DESC);

-- One row per (video, tag), for the tag filter.
CREATE TABLE video_tags (
    video_id TEXT NOT NULL REFERENCES videos (id),
    tag      TEXT NOT NULL,
    PRIMARY KEY (video_id, tag)
) WITHOUT ROWID;
CREATE INDEX video_tags_tag ON video_tags (tag);

-- Full text over title, tags and description, kept in step by triggers.
CREATE VIRTUAL TABLE videos_fts USING fts5 (
    title, tags, description,
    content = 'videos', content_rowid = 'seq',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER videos_fts_insert AFTER INSERT ON videos BEGIN
    INSERT INTO videos_fts (rowid, title, tags, description) VALUES (new.seq, new.title, new.tags, new.description);
END;
CREATE TRIGGER videos_fts_delete AFTER DELETE ON videos BEGIN
    INSERT INTO videos_fts (videos_fts, rowid, title, tags, description) VALUES ('delete', old.seq, old.title, old.tags, old.description);
END;
CREATE TRIGGER videos_fts_update AFTER UPDATE OF title, tags, description ON videos BEGIN
    INSERT INTO videos_fts (videos_fts, rowid, title, tags, description) VALUES ('delete', old.seq, old.title, old.tags, old.description);
    INSERT INTO videos_fts (rowid, title, tags, description) VALUES (new.seq, new.title, new.tags, new.description);
END;

-- Outbox of media removals for deleted videos; the worker service drains it.
CREATE TABLE media_deletions (
    video_id     TEXT    NOT NULL PRIMARY KEY REFERENCES videos (id),
    requested_at INTEGER NOT NULL,
    done_at      INTEGER
);
CREATE INDEX media_deletions_pending ON media_deletions (requested_at) WHERE done_at IS NULL;
