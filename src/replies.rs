//! replies
