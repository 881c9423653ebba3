-- 0008: who writes these books. One process at a time holds a session-level advisory lock on
-- the schema (qts.data.postgres.writer_lock); this row names it (pid, host, since, command) so
-- that a second writer is refused with the holder named. backend_pid is the server session
-- holding the lock: a row whose session no longer holds it was left by a process that died.
CREATE TABLE books_writer (
    id          smallint PRIMARY KEY CHECK (id = 1),
    pid         integer NOT NULL,
    host        text NOT NULL,
    since       timestamptz NOT NULL,
    command     text NOT NULL,
    backend_pid integer NOT NULL
);
