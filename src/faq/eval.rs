//! Measuring the matcher on labelled data.
