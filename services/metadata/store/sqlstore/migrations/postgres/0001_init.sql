-- Videos.
CREATE TABLE videos (
    id              text        COLLATE "C" PRIMARY KEY,
    creator         text        NOT NULL,
    request_id      text,
    title           text        NOT NULL,
    description     text        NOT NULL,
    tags            text        NOT NULL,
    status          smallint    NOT NULL,
    status_reason   text        NOT NULL,
    duration_us     bigint      NOT NULL,
    renditions      text        NOT NULL,
    poster_path     text        NOT NULL,
    storyboard_path text        NOT NULL,
    hls_path        text        NOT NULL,
    dash_path       text        NOT NULL,
    policy          text        NOT NULL,
    gated           boolean     NOT NULL,
    upload_id       text        NOT NULL,
    media_info      text        NOT NULL,
    create_time     timestamptz NOT NULL,
    update_time     timestamptz NOT NULL,
    version         bigint      NOT NULL,
    -- Full text: title weighs most, then tags, then the description. The
    -- 'simple' configuration lowercases and does not stem, like SQLite's
    -- unicode61 tokenizer, so both engines match the same words.
    search          tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', title), 'A') ||
        setweight(to_tsvector('simple', tags), 'B') ||
        setweight(to_tsvector('simple', description), 'C')
    ) STORED,
    -- The tags as an array, for the tag filter's GIN index.
    tag_list        text[] GENERATED ALWAYS AS (string_to_array(tags, ' ')) STORED,
    UNIQUE (creator, request_id)
);

-- List order is (create_time DESC, id DESC) within a status or a creator.
CREATE INDEX videos_status_order ON videos (status, create_time DESC, id DESC);
CREATE INDEX videos_creator_order ON videos (creator, create_time DESC, id DESC);
CREATE INDEX videos_search ON videos USING gin (search);
CREATE INDEX videos_tags ON videos USING gin (tag_list);

-- Outbox of media removals for deleted videos; the worker service drains it.
CREATE TABLE media_deletions (
    video_id     text        PRIMARY KEY REFERENCES videos (id),
    requested_at timestamptz NOT NULL,
    done_at      timestamptz
);
CREATE INDEX media_deletions_pending ON media_deletions (requested_at) WHERE done_at IS NULL;
