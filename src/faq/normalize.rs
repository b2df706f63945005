//! Text normalisation.
