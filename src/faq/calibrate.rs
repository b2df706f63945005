//! Confidence calibration and operating thresholds.
//!
//! Owns the mapping from raw match evidence (top score, margin over the runner-up,
//! share of the message's words the knowledge base knows) to a probability that
//! the entry is right (a small logistic regression, Platt-style, fitted on held-out
//! predictions and shrunk towards a cautious prior), and the choice of the
//! answer/suggest thresholds from such held-out predictions. All arithmetic is f64. It
//! never sees test data: callers feed it cross-validation rows or a validation file.

use serde::Serialize;

/// Evidence about one candidate.
pub const N_EVIDENCE: usize = 3;
pub type Evidence = [f64; N_EVIDENCE];

/// Logistic mapping evidence → probability.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Calibrator {
    weights: [f64; N_EVIDENCE],
    bias: f64,
}

/// The prior: what a knowledge base too small to tell us otherwise gets. Close to what
/// larger knowledge bases' held-out rows say (the margin over the runner-up matters
/// most), with a message whose words the knowledge base mostly knows.
const PRIOR_WEIGHTS: [f64; N_EVIDENCE] = [1.0, 6.0, 3.0];
const PRIOR_BIAS: f64 = -5.0;
/// Strength of the pull towards the prior (an L2 penalty on the distance to it): worth
/// a handful of rows, so a knowledge base's own rows decide as soon as they can.
const PRIOR_STRENGTH: f64 = 1.0;
/// Largest change of one parameter in one Newton step.
const MAX_STEP: f64 = 4.0;

impl Default for Calibrator {
    fn default() -> Self {
        Calibrator {
            weights: PRIOR_WEIGHTS,
            bias: PRIOR_BIAS,
        }
    }
}

impl Calibrator {
    pub fn probability(&self, e: &Evidence) -> f64 {
        let z: f64 = self.bias + self.weights.iter().zip(e).map(|(w, x)| w * x).sum::<f64>();
        sigmoid(z)
    }

    /// Fit on (evidence, was the candidate right), a maximum a posteriori logistic
    /// regression around the prior: few rows leave it near the prior, many rows move
    /// it where they say. Falls back to the prior when the rows are all right or all
    /// wrong (nothing to learn the boundary from).
    pub fn fit(rows: &[(Evidence, bool)]) -> Calibrator {
        let pos = rows.iter().filter(|r| r.1).count();
        if pos == 0 || pos == rows.len() {
            return Calibrator::default();
        }
        // Newton's method (IRLS) on the weights and the bias.
        const D: usize = N_EVIDENCE + 1;
        let prior: [f64; D] = {
            let mut p = [0f64; D];
            p[..N_EVIDENCE].copy_from_slice(&PRIOR_WEIGHTS);
            p[N_EVIDENCE] = PRIOR_BIAS;
            p
        };
        // Newton from zero (from the prior, far from the data's optimum, plain Newton
        // steps overshoot); steps are capped for the same reason.
        let mut beta = [0f64; D];
        for _ in 0..100 {
            let mut grad = [0f64; D];
            let mut hess = [[0f64; D]; D];
            for (e, y) in rows {
                let mut x = [1f64; D];
                x[..N_EVIDENCE].copy_from_slice(e);
                let z: f64 = beta.iter().zip(&x).map(|(b, v)| b * v).sum();
                let p = sigmoid(z);
                let g = p - if *y { 1.0 } else { 0.0 };
                let h = (p * (1.0 - p)).max(1e-9);
                for i in 0..D {
                    grad[i] += g * x[i];
                    for j in 0..D {
                        hess[i][j] += h * x[i] * x[j];
                    }
                }
            }
            for i in 0..D {
                grad[i] += PRIOR_STRENGTH * (beta[i] - prior[i]);
                hess[i][i] += PRIOR_STRENGTH;
            }
            let Some(delta) = solve(hess, grad) else {
                break;
            };
            let largest = delta.iter().fold(0f64, |m, d| m.max(d.abs()));
            let damp = if largest > MAX_STEP {
                MAX_STEP / largest
            } else {
                1.0
            };
            let mut size = 0.0;
            for i in 0..D {
                beta[i] -= damp * delta[i];
                size += (damp * delta[i]).abs();
            }
            if !beta.iter().all(|b| b.is_finite()) {
                return Calibrator::default();
            }
            if size < 1e-9 {
                break;
            }
        }
        let mut weights = [0f64; N_EVIDENCE];
        weights.copy_from_slice(&beta[..N_EVIDENCE]);
        Calibrator {
            weights,
            bias: beta[N_EVIDENCE],
        }
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Gaussian elimination with partial pivoting for the tiny Newton system.
fn solve<const D: usize>(mut a: [[f64; D]; D], mut b: [f64; D]) -> Option<[f64; D]> {
    for col in 0..D {
        let pivot = (col..D).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..D {
            let f = a[row][col] / a[col][col];
            let pivot_row = a[col];
            for (cell, p) in a[row].iter_mut().zip(pivot_row).skip(col) {
                *cell -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0f64; D];
    for row in (0..D).rev() {
        let s: f64 = (row + 1..D).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

/// When to answer and when to offer suggestions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// On the calibrated probability of the top entry.
    pub answer: f32,
    /// On the summed probability of the entries "did you mean" would show, when the
    /// top one is below `answer`.
    pub suggest: f32,
}

impl Default for Thresholds {
    /// For a knowledge base with too few phrasings to measure itself: answer only on
    /// strong evidence, suggest when the buttons together are fairly likely.
    fn default() -> Self {
        Thresholds {
            answer: DEFAULT_ANSWER,
            suggest: DEFAULT_SUGGEST,
        }
    }
}

/// Answer threshold when the held-out rows cannot certify one (on the prior
/// calibrator, that is a clear margin over the runner-up on words the knowledge base
/// knows).
const DEFAULT_ANSWER: f32 = 0.8;
/// Suggestion threshold when too few held-out rows fall below the answer threshold to
/// measure how often the buttons would hold the right entry. A tiny knowledge base
/// has few entries to confuse, and the customer picks (or asks for a person).
const DEFAULT_SUGGEST: f32 = 0.3;
/// Rows below the answer threshold needed to measure the suggestion band.
const MIN_BAND_ROWS: usize = 30;

/// Precision wanted from answers.
pub const TARGET_PRECISION: f64 = 0.97;
/// One-sided confidence of the guarantee: the upper Clopper–Pearson bound at this
/// level on the error rate of the answered held-out rows must stay ≤ 1 − target.
pub const GUARANTEE_CONFIDENCE: f64 = 0.90;
/// How often the shown suggestions must contain the right entry.
pub const SUGGESTION_HIT_RATE: f64 = 0.80;

/// One held-out prediction: probability of the top entry, whether it was right,
/// whether the message was in scope at all (`false` for `oos` examples and for
/// phrasings of entries the fold did not know), whether it was a real refusal example,
/// whether the right entry was among the suggestions that would be shown, and their
/// summed probability.
#[derive(Debug, Clone, Copy)]
pub struct HeldOut {
    pub probability: f64,
    pub correct: bool,
    pub in_scope: bool,
    /// A real out-of-scope example (`oos` training row or validation row).
    pub refusal: bool,
    pub right_in_suggestions: bool,
    /// Summed probability of the candidates "did you mean" would show: how likely
    /// the set holds the right entry, where no single one is sure.
    pub suggestion_mass: f64,
}

impl Thresholds {
    /// Pick thresholds from held-out predictions.
    ///
    /// Answer: the lowest threshold whose answered rows (wrong answers and answered
    /// out-of-scope rows both count as errors) have an upper
    /// [`GUARANTEE_CONFIDENCE`] Clopper–Pearson bound on their error rate of at most
    /// 1 − [`TARGET_PRECISION`]. Few rows cannot certify much (with no error, 76 rows
    /// are needed), so a small knowledge base answers less rather than wrongly: when no
    /// threshold qualifies, [`DEFAULT_ANSWER`] on a calibrator that stays near its
    /// cautious prior. With real out-of-scope examples the threshold is also at least
    /// the equal-error cut, where the share of in-scope rows not answered right
    /// equals the share of out-of-scope rows answered.
    ///
    /// Suggest, on the summed probability of the shown suggestions of a row not
    /// answered: the lowest threshold such that, among rows above it, the right entry
    /// is among the shown suggestions at least
    /// [`SUGGESTION_HIT_RATE`] of the time; no band (suggest = answer) when none does;
    /// [`DEFAULT_SUGGEST`] when fewer than [`MIN_BAND_ROWS`] rows are there to tell.
    pub fn choose(rows: &[HeldOut]) -> Thresholds {
        let mut sorted: Vec<HeldOut> = rows.to_vec();
        sorted.sort_by(|a, b| b.probability.total_cmp(&a.probability));
        let max_error = 1.0 - TARGET_PRECISION;
        let (mut answered, mut errors) = (0u64, 0u64);
        let mut certified: Option<f64> = None;
        for (i, r) in sorted.iter().enumerate() {
            answered += 1;
            errors += u64::from(!(r.in_scope && r.correct));
            if !ends_run(&sorted, i, |r| r.probability) {
                continue;
            }
            if clopper_pearson_upper(errors, answered, GUARANTEE_CONFIDENCE) <= max_error {
                certified = Some(r.probability);
            }
        }
        let mut answer = certified.map_or(f64::from(DEFAULT_ANSWER), |p| p.max(0.05));
        let n_in = rows.iter().filter(|r| r.in_scope && !r.refusal).count();
        let n_refusal = rows.iter().filter(|r| r.refusal).count();
        if n_refusal > 0 && n_in > 0 {
            answer = answer.max(equal_error_cut(&sorted, n_in, n_refusal));
        }
        let answer = answer.min(0.99);
        // Suggestion band: the rows not answered, by the mass of their suggestions.
        let mut unsure: Vec<&HeldOut> = sorted.iter().filter(|r| r.probability < answer).collect();
        unsure.sort_by(|a, b| b.suggestion_mass.total_cmp(&a.suggestion_mass));
        let mut suggest = answer;
        let (mut band, mut hits) = (0usize, 0usize);
        for (i, r) in unsure.iter().enumerate() {
            band += 1;
            hits += usize::from(r.right_in_suggestions);
            if !ends_run(&unsure, i, |r| r.suggestion_mass) {
                continue;
            }
            if hits as f64 >= SUGGESTION_HIT_RATE * band as f64 {
                suggest = r.suggestion_mass;
            }
        }
        if unsure.len() < MIN_BAND_ROWS {
            suggest = f64::from(DEFAULT_SUGGEST);
        }
        Thresholds {
            answer: answer as f32,
            suggest: (suggest as f32).min(answer as f32),
        }
    }
}

/// Walking down the sorted list, answering everything above the cut: the in-scope
/// miss rate falls while the out-of-scope acceptance rate rises; cut where they cross.
/// Unlike the arg-max of a summed objective, which is flat near its top, the crossing
/// point is stable.
fn equal_error_cut(sorted: &[HeldOut], n_in: usize, n_refusal: usize) -> f64 {
    let (mut right, mut refusals_answered) = (0usize, 0usize);
    let mut best = (f64::INFINITY, 0.5f64);
    for (i, r) in sorted.iter().enumerate() {
        if r.in_scope && r.correct && !r.refusal {
            right += 1;
        }
        if r.refusal {
            refusals_answered += 1;
        }
        if !ends_run(sorted, i, |r| r.probability) {
            continue;
        }
        let miss = 1.0 - right as f64 / n_in as f64;
        let accepted = refusals_answered as f64 / n_refusal as f64;
        let gap = (miss - accepted).abs();
        if gap < best.0 {
            best = (gap, r.probability);
        }
    }
    best.1.clamp(0.05, 0.95)
}

/// Whether row `i` of rows sorted by `key` is the last of its equal keys: thresholds
/// are only cut between distinct values.
fn ends_run<T>(sorted: &[T], i: usize, key: impl Fn(&T) -> f64) -> bool {
    match (sorted.get(i), sorted.get(i + 1)) {
        (Some(this), Some(next)) => key(this) != key(next),
        _ => true,
    }
}

/// Upper one-sided Clopper–Pearson bound at `confidence` on a binomial proportion
/// with `k` events in `n` trials: the `confidence` quantile of Beta(k + 1, n − k).
pub fn clopper_pearson_upper(k: u64, n: u64, confidence: f64) -> f64 {
    if n == 0 || k >= n {
        return 1.0;
    }
    use statrs::distribution::{Beta, ContinuousCDF};
    match Beta::new(k as f64 + 1.0, (n - k) as f64) {
        Ok(beta) => beta.inverse_cdf(confidence).clamp(0.0, 1.0),
        // Parameters are positive and finite by construction; be safe anyway.
        Err(_) => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(probability: f64, correct: bool) -> HeldOut {
        HeldOut {
            probability,
            correct,
            in_scope: true,
            refusal: false,
            right_in_suggestions: correct,
            suggestion_mass: probability,
        }
    }

    #[test]
    fn fit_orders_by_evidence() {
        let mut rows = Vec::new();
        for i in 0..400 {
            let m = f64::from(i) / 400.0;
            rows.push(([0.5, m, 0.5], i % 7 != 0 && m > 0.3));
        }
        let c = Calibrator::fit(&rows);
        assert!(c.probability(&[0.5, 0.9, 0.5]) > 0.8);
        assert!(c.probability(&[0.5, 0.05, 0.5]) < 0.2);
    }

    #[test]
    fn few_rows_stay_near_the_prior() {
        // Ten rows, all but one right: not enough to trust a message the entry does
        // not explain.
        let mut rows: Vec<(Evidence, bool)> = (0..9).map(|_| ([1.0, 0.8, 1.0], true)).collect();
        rows.push(([0.6, 0.1, 0.9], false));
        let c = Calibrator::fit(&rows);
        let elsewhere = c.probability(&[0.4, 0.1, 0.4]);
        assert!(elsewhere < 0.2, "{elsewhere}");
        assert!(c.probability(&[1.0, 0.8, 1.0]) > 0.8);
    }

    #[test]
    fn beta_quantile_matches_known_values() {
        // No error in n trials: the bound is 1 − (1 − confidence)^(1/n).
        for n in [1u64, 10, 76, 500] {
            let want = 1.0 - 0.1f64.powf(1.0 / n as f64);
            let got = clopper_pearson_upper(0, n, 0.9);
            assert!((got - want).abs() < 1e-6, "n={n}: {got} vs {want}");
        }
        // 3 errors in 200: the upper 90 % bound is about 3.3 %.
        let u = clopper_pearson_upper(3, 200, 0.9);
        assert!((0.030..0.036).contains(&u), "{u}");
    }

    #[test]
    fn small_sets_cannot_certify() {
        let rows: Vec<HeldOut> = (0..40)
            .map(|i| row(0.5 + f64::from(i) / 100.0, true))
            .collect();
        let t = Thresholds::choose(&rows);
        assert_eq!(t.answer, DEFAULT_ANSWER);
        // Below the answer threshold the right entry is often the runner-up: a band
        // of suggestions.
        let rows: Vec<HeldOut> = (0..400)
            .map(|i| HeldOut {
                right_in_suggestions: i % 10 != 1,
                suggestion_mass: f64::from(i) / 400.0,
                ..row(f64::from(i) / 400.0, i >= 100 || i % 2 == 0)
            })
            .collect();
        let t = Thresholds::choose(&rows);
        assert!(t.answer > 0.2 && t.answer < 0.5, "{t:?}");
        assert!(t.suggest < t.answer, "{t:?}");
    }

    #[test]
    fn thresholds_with_oos_separate_them() {
        let mut rows = Vec::new();
        for i in 0..100 {
            rows.push(row(0.5 + f64::from(i) / 250.0, true));
            rows.push(HeldOut {
                probability: 0.1 + f64::from(i) / 400.0,
                correct: false,
                in_scope: false,
                refusal: true,
                right_in_suggestions: false,
                suggestion_mass: 0.1 + f64::from(i) / 400.0,
            });
        }
        let t = Thresholds::choose(&rows);
        assert!(t.answer > 0.35 && t.answer <= 0.5, "{t:?}");
    }
}
