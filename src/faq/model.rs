//! A sparse multiclass linear model: averaged passive-aggressive training with the
//! Crammer–Singer multiclass hinge loss.
//!
//! Owns training and scoring only. Each update touches the true class and the single
//! most violating class, so most (feature, class) weights stay zero; weights are kept
//! as a postings list per feature and scoring is an inverted-index accumulation, which
//! is what keeps 10,000-entry knowledge bases fast. Deterministic (seeded shuffles).

use super::features::SparseVec;

/// Training knobs. Accuracy moves by under a point for `C` in 0.1–1 and beyond ~10
/// epochs; training stops early once an epoch makes no mistakes.
#[derive(Debug, Clone, Copy)]
pub struct TrainOptions {
    pub epochs: usize,
    /// PA-I aggressiveness `C`: the largest step one example may take.
    pub aggressiveness: f32,
    pub seed: u64,
    /// Keep at most this many class weights per feature (largest magnitude first).
    pub max_postings: Option<usize>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 12,
            aggressiveness: 0.25,
            seed: 0x5eed,
            max_postings: None,
        }
    }
}

/// Weights of a trained model, as postings: feature → [(class, weight)].
#[derive(Debug, Clone, Default)]
pub struct LinearModel {
    n_classes: usize,
    offsets: Vec<u32>,
    classes: Vec<u32>,
    weights: Vec<f32>,
}

/// One (class, weight, averaging accumulator) cell during training.
#[derive(Clone, Copy)]
struct Cell {
    class: u32,
    w: f32,
    u: f32,
}

/// Training-time weight storage: dense when features × classes is small enough
/// (fast, vectorisable), postings otherwise (10,000-entry knowledge bases).
trait Weights {
    /// Fill `scores` for the classes `x` touches, listing them in `touched`.
    fn score(
        &self,
        x: &[(u32, f32)],
        scores: &mut [f32],
        mark: &mut [bool],
        touched: &mut Vec<u32>,
    );
    fn update(&mut self, x: &[(u32, f32)], class: u32, tau: f32, step: f32);
    /// Averaged weights as postings.
    fn finish(self, step: f32, n_classes: usize, cap: Option<usize>) -> LinearModel;
}

/// Above this many (feature, class) cells training switches to postings.
const DENSE_LIMIT: usize = 24_000_000;

struct Dense {
    n_classes: usize,
    w: Vec<f32>,
    u: Vec<f32>,
}

impl Weights for Dense {
    fn score(
        &self,
        x: &[(u32, f32)],
        scores: &mut [f32],
        mark: &mut [bool],
        touched: &mut Vec<u32>,
    ) {
        let c = self.n_classes;
        for &(f, v) in x {
            let row = &self.w[f as usize * c..(f as usize + 1) * c];
            for (s, w) in scores.iter_mut().zip(row) {
                *s += v * w;
            }
        }
        // Every class competes; `mark` stays false so the caller resets all of them.
        let _ = mark;
        touched.extend(0..c as u32);
    }

    fn update(&mut self, x: &[(u32, f32)], class: u32, tau: f32, step: f32) {
        for &(f, v) in x {
            let i = f as usize * self.n_classes + class as usize;
            let d = tau * v;
            self.w[i] += d;
            self.u[i] += step * d;
        }
    }

    fn finish(self, step: f32, n_classes: usize, cap: Option<usize>) -> LinearModel {
        let n_features = self.w.len() / n_classes.max(1);
        let mut model = LinearModel::empty(n_classes, n_features);
        for f in 0..n_features {
            for c in 0..n_classes {
                let i = f * n_classes + c;
                model.push(c as u32, self.w[i] - self.u[i] / step);
            }
            model.end_feature(cap);
        }
        model
    }
}

struct Sparse {
    post: Vec<Vec<Cell>>,
}

impl Weights for Sparse {
    fn score(
        &self,
        x: &[(u32, f32)],
        scores: &mut [f32],
        mark: &mut [bool],
        touched: &mut Vec<u32>,
    ) {
        for &(f, v) in x {
            for cell in &self.post[f as usize] {
                let c = cell.class as usize;
                if !mark[c] {
                    mark[c] = true;
                    touched.push(cell.class);
                }
                scores[c] += v * cell.w;
            }
        }
    }

    fn update(&mut self, x: &[(u32, f32)], class: u32, tau: f32, step: f32) {
        for &(f, v) in x {
            let cells = &mut self.post[f as usize];
            let d = tau * v;
            // Postings stay sorted by class so updates are a binary search.
            match cells.binary_search_by_key(&class, |c| c.class) {
                Ok(i) => {
                    cells[i].w += d;
                    cells[i].u += step * d;
                }
                Err(i) => cells.insert(
                    i,
                    Cell {
                        class,
                        w: d,
                        u: step * d,
                    },
                ),
            }
        }
    }

    fn finish(self, step: f32, n_classes: usize, cap: Option<usize>) -> LinearModel {
        let mut model = LinearModel::empty(n_classes, self.post.len());
        for cells in &self.post {
            for cell in cells {
                model.push(cell.class, cell.w - cell.u / step);
            }
            model.end_feature(cap);
        }
        model
    }
}

impl LinearModel {
    /// Train on `xs` (sparse vectors over `n_features`) with labels `ys` < `n_classes`.
    pub fn train(
        xs: &[SparseVec],
        ys: &[u32],
        n_features: usize,
        n_classes: usize,
        opts: &TrainOptions,
    ) -> LinearModel {
        if n_classes == 0 {
            return LinearModel::empty(0, n_features);
        }
        if n_features.saturating_mul(n_classes) <= DENSE_LIMIT {
            let cells = n_features * n_classes;
            let dense = Dense {
                n_classes,
                w: vec![0.0; cells],
                u: vec![0.0; cells],
            };
            run(dense, xs, ys, n_classes, opts)
        } else {
            let sparse = Sparse {
                post: vec![Vec::new(); n_features],
            };
            run(sparse, xs, ys, n_classes, opts)
        }
    }

    fn empty(n_classes: usize, n_features: usize) -> LinearModel {
        let mut offsets = Vec::with_capacity(n_features + 1);
        offsets.push(0);
        LinearModel {
            n_classes,
            offsets,
            classes: Vec::new(),
            weights: Vec::new(),
        }
    }

    /// Weights this small change no ranking; dropping them keeps postings short.
    fn push(&mut self, class: u32, w: f32) {
        if w.abs() > 1e-3 {
            self.classes.push(class);
            self.weights.push(w);
        }
    }

    fn end_feature(&mut self, max_postings: Option<usize>) {
        let start = self.offsets.last().copied().unwrap_or(0) as usize;
        if let Some(cap) = max_postings {
            if self.classes.len() - start > cap {
                let mut cells: Vec<(u32, f32)> = self.classes[start..]
                    .iter()
                    .copied()
                    .zip(self.weights[start..].iter().copied())
                    .collect();
                cells.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
                cells.truncate(cap);
                self.classes.truncate(start);
                self.weights.truncate(start);
                for (c, w) in cells {
                    self.classes.push(c);
                    self.weights.push(w);
                }
            }
        }
        self.offsets.push(self.classes.len() as u32);
    }

    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Number of stored (feature, class) weights.
    pub fn n_weights(&self) -> usize {
        self.weights.len()
    }

    /// Add `x · w_c` to `scores[c]` for every class (scores must be `n_classes` long).
    pub fn accumulate(&self, x: &[(u32, f32)], scores: &mut [f32]) {
        for &(f, v) in x {
            let f = f as usize;
            if f + 1 >= self.offsets.len() {
                continue;
            }
            let (a, b) = (self.offsets[f] as usize, self.offsets[f + 1] as usize);
            for (c, w) in self.classes[a..b].iter().zip(&self.weights[a..b]) {
                if let Some(s) = scores.get_mut(*c as usize) {
                    *s += v * w;
                }
            }
        }
    }
}

fn run<W: Weights>(
    mut weights: W,
    xs: &[SparseVec],
    ys: &[u32],
    n_classes: usize,
    opts: &TrainOptions,
) -> LinearModel {
    let mut scores = vec![0f32; n_classes];
    let mut mark = vec![false; n_classes];
    let mut touched: Vec<u32> = Vec::new();
    let mut order: Vec<usize> = (0..xs.len().min(ys.len())).collect();
    let mut rng = fastrand::Rng::with_seed(opts.seed);
    // Averaging trick: u accumulates step × update, the average is w − u/step.
    let mut step: f32 = 1.0;
    for _ in 0..opts.epochs {
        rng.shuffle(&mut order);
        let mut mistakes = 0usize;
        for &i in &order {
            let x = &xs[i];
            let y = ys[i];
            if y as usize >= n_classes || x.is_empty() {
                continue;
            }
            weights.score(x, &mut scores, &mut mark, &mut touched);
            let sy = scores[y as usize];
            let y_touched = touched.contains(&y);
            let others_touched = touched.len() - usize::from(y_touched);
            // Classes never touched score exactly 0: they compete as one "virtual"
            // class that needs no update (pushing an arbitrary one down would only
            // add weights).
            let mut rival: Option<u32> = None;
            let mut sr = if others_touched < n_classes - 1 {
                0.0
            } else {
                f32::NEG_INFINITY
            };
            for &c in &touched {
                if c != y && scores[c as usize] > sr {
                    sr = scores[c as usize];
                    rival = Some(c);
                }
            }
            for &c in &touched {
                scores[c as usize] = 0.0;
                mark[c as usize] = false;
            }
            touched.clear();
            let loss = 1.0 - (sy - sr);
            if loss > 0.0 {
                mistakes += usize::from(sy <= sr);
                let xx: f32 = x.iter().map(|(_, v)| v * v).sum();
                let denom = if rival.is_some() { 2.0 * xx } else { xx };
                let tau = (loss / denom).min(opts.aggressiveness);
                weights.update(x, y, tau, step);
                if let Some(r) = rival {
                    weights.update(x, r, -tau, step);
                }
            }
            step += 1.0;
        }
        if mistakes == 0 {
            break;
        }
    }
    weights.finish(step, n_classes, opts.max_postings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_simple_classes() {
        let xs: Vec<SparseVec> = vec![
            vec![(0, 1.0)],
            vec![(0, 0.8), (2, 0.6)],
            vec![(1, 1.0)],
            vec![(1, 0.8), (2, 0.6)],
        ];
        let ys = vec![0, 0, 1, 1];
        let m = LinearModel::train(&xs, &ys, 3, 2, &TrainOptions::default());
        let mut s = vec![0.0; 2];
        m.accumulate(&[(0, 1.0)], &mut s);
        assert!(s[0] > s[1], "{s:?}");
        let mut s = vec![0.0; 2];
        m.accumulate(&[(1, 0.7), (2, 0.7)], &mut s);
        assert!(s[1] > s[0], "{s:?}");
    }
}
