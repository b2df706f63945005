//! Confidence calibration and operating thresholds.
//!
//! Owns the mapping from raw match evidence (top score, margin over the runner-up,
//! share of the message's words the knowledge base knows) to a probability that the entry is right
//! (a small logistic regression, Platt-style, fitted on held-out predictions), and the
//! choice of the answer/suggest thresholds from such held-out predictions. It never
//! sees test data: callers feed it cross-validation rows or a validation file.

use serde::Serialize;

/// Evidence about one candidate.
pub const N_EVIDENCE: usize = 3;
pub type Evidence = [f32; N_EVIDENCE];

/// Logistic mapping evidence → probability.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Calibrator {
    weights: [f32; N_EVIDENCE],
    bias: f32,
}

impl Default for Calibrator {
    /// Used when the knowledge base is too small to cross-validate: a clear margin and a
    /// near-verbatim phrasing are needed for a high probability.
    fn default() -> Self {
        Calibrator {
            weights: [2.0, 6.0, 4.0],
            bias: -4.0,
        }
    }
}

impl Calibrator {
    pub fn probability(&self, e: &Evidence) -> f32 {
        let z: f32 = self.bias + self.weights.iter().zip(e).map(|(w, x)| w * x).sum::<f32>();
        sigmoid(z)
    }

    /// Fit on (evidence, was the candidate right). Falls back to the default when the
    /// rows cannot support a fit (too few, or all right / all wrong).
    pub fn fit(rows: &[(Evidence, bool)]) -> Calibrator {
        let pos = rows.iter().filter(|r| r.1).count();
        if rows.len() < 20 || pos < 3 || rows.len() - pos < 3 {
            return Calibrator::default();
        }
        // Newton's method (IRLS) on 4 parameters, with a little L2 so separable data
        // still converges; f64 for a stable solve.
        const D: usize = N_EVIDENCE + 1;
        let mut beta = [0f64; D];
        let lambda = 1e-2;
        for _ in 0..30 {
            let mut grad = [0f64; D];
            let mut hess = [[0f64; D]; D];
            for (e, y) in rows {
                let x = [f64::from(e[0]), f64::from(e[1]), f64::from(e[2]), 1.0];
                let z: f64 = beta.iter().zip(&x).map(|(b, v)| b * v).sum();
                let p = 1.0 / (1.0 + (-z).exp());
                let g = p - if *y { 1.0 } else { 0.0 };
                let h = (p * (1.0 - p)).max(1e-9);
                for i in 0..D {
                    grad[i] += g * x[i];
                    for j in 0..D {
                        hess[i][j] += h * x[i] * x[j];
                    }
                }
            }
            for i in 0..N_EVIDENCE {
                grad[i] += lambda * beta[i];
                hess[i][i] += lambda;
            }
            let Some(delta) = solve(hess, grad) else {
                break;
            };
            let mut size = 0.0;
            for i in 0..D {
                beta[i] -= delta[i];
                size += delta[i].abs();
            }
            if !beta.iter().all(|b| b.is_finite()) {
                return Calibrator::default();
            }
            if size < 1e-6 {
                break;
            }
        }
        Calibrator {
            weights: [beta[0] as f32, beta[1] as f32, beta[2] as f32],
            bias: beta[3] as f32,
        }
    }
}

fn sigmoid(z: f32) -> f32 {
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

/// When to answer and when to offer suggestions, on the calibrated probability.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    pub answer: f32,
    pub suggest: f32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            answer: 0.6,
            suggest: 0.2,
        }
    }
}

/// Precision wanted from answers when no out-of-scope examples are available to tune on.
pub const TARGET_PRECISION: f32 = 0.95;

/// One held-out prediction: probability of the top entry, whether it was right, and
/// whether the message was in scope at all (`false` for `oos` examples).
#[derive(Debug, Clone, Copy)]
pub struct HeldOut {
    pub probability: f32,
    pub correct: bool,
    pub in_scope: bool,
}

impl Thresholds {
    /// Pick thresholds from held-out predictions.
    ///
    /// With out-of-scope examples: the equal-error cut, where the share of in-scope
    /// messages not answered right equals the share of out-of-scope messages answered
    /// (both rates, so the example counts do not matter).
    ///
    /// Without them: the lowest threshold whose answers reach [`TARGET_PRECISION`],
    /// kept within [0.4, 0.9] because small knowledge bases give noisy estimates.
    pub fn choose(rows: &[HeldOut]) -> Thresholds {
        let n_in = rows.iter().filter(|r| r.in_scope).count();
        let n_oos = rows.len() - n_in;
        if n_in < 10 {
            return Thresholds::default();
        }
        let mut sorted: Vec<HeldOut> = rows.to_vec();
        sorted.sort_by(|a, b| b.probability.total_cmp(&a.probability));
        let answer = if n_oos > 0 {
            // Walking down the sorted list, answering everything above the cut: the
            // in-scope miss rate falls while the out-of-scope acceptance rate rises;
            // cut where they cross (equal error rate). Unlike the arg-max of a summed
            // objective, which is flat near its top, the crossing point is stable.
            let (mut right, mut oos_answered) = (0usize, 0usize);
            let mut best = (f32::INFINITY, 0.5f32);
            for (i, r) in sorted.iter().enumerate() {
                if r.in_scope && r.correct {
                    right += 1;
                }
                if !r.in_scope {
                    oos_answered += 1;
                }
                // Only cut between distinct probabilities.
                if sorted
                    .get(i + 1)
                    .is_some_and(|n| n.probability == r.probability)
                {
                    continue;
                }
                let miss = 1.0 - right as f32 / n_in as f32;
                let accepted = oos_answered as f32 / n_oos as f32;
                let gap = (miss - accepted).abs();
                if gap < best.0 {
                    best = (gap, r.probability);
                }
            }
            best.1.clamp(0.05, 0.95)
        } else {
            let (mut right, mut answered) = (0usize, 0usize);
            let mut cut = 0.9f32;
            for (i, r) in sorted.iter().enumerate() {
                answered += 1;
                right += usize::from(r.correct);
                if sorted
                    .get(i + 1)
                    .is_some_and(|n| n.probability == r.probability)
                {
                    continue;
                }
                if right as f32 / answered as f32 >= TARGET_PRECISION {
                    cut = r.probability;
                }
            }
            cut.clamp(0.4, 0.9)
        };
        Thresholds {
            answer,
            suggest: (answer * 0.4).min(0.25),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_orders_by_evidence() {
        let mut rows = Vec::new();
        for i in 0..200 {
            let m = i as f32 / 200.0;
            rows.push(([0.5, m, 0.5], i % 7 != 0 && m > 0.3));
        }
        let c = Calibrator::fit(&rows);
        assert!(c.probability(&[0.5, 0.9, 0.5]) > 0.8);
        assert!(c.probability(&[0.5, 0.05, 0.5]) < 0.2);
    }

    #[test]
    fn thresholds_with_oos_separate_them() {
        let mut rows = Vec::new();
        for i in 0..100 {
            rows.push(HeldOut {
                probability: 0.5 + i as f32 / 250.0,
                correct: true,
                in_scope: true,
            });
            rows.push(HeldOut {
                probability: 0.1 + i as f32 / 400.0,
                correct: false,
                in_scope: false,
            });
        }
        let t = Thresholds::choose(&rows);
        assert!(t.answer > 0.35 && t.answer <= 0.5, "{t:?}");
    }
}
