//! SQLite implementation of the store (embedded, WAL).
