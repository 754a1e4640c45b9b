//! A seeded data-generating process for schools in provinces with staggered
//! adoption. It exists so tests, the benchmark and anyone checking the
//! estimators by hand use the same, reproducible truth; it carries its own
//! tiny RNG to keep results identical across platforms and dependency updates.

use serde::{Deserialize, Serialize};

use super::panel::Panel;

/// SplitMix64 (Steele, Lea & Flood 2014): 64 bits of state, passes BigCrush,
/// and is trivially reproducible, which is all a simulation test needs.
#[derive(Debug, Clone)]
pub struct SimRng {
    state: u64,
    spare_normal: Option<f64>,
}

impl SimRng {
    pub fn new(seed: u64) -> Self {
        SimRng {
            state: seed,
            spare_normal: None,
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform on [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in 0..n (n > 0); the modulo bias is below 2^-40 for
    /// the sizes used here.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Standard normal via the Box-Muller transform (both values used).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        let u1 = 1.0 - self.uniform(); // (0, 1]: keeps ln finite
        let u2 = self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (2.0 * std::f64::consts::PI * u2).sin_cos();
        self.spare_normal = Some(r * s);
        r * c
    }
}

/// ```text
/// Y_it = level(cohort) + unit_sd * a_i + trend * t + province shock_{p,t}
///        + tau(t - g_i) * 1[treated] + noise_sd * e_it,
/// tau(e) = effect_at_onset + effect_growth * e for e >= 0.
/// ```
/// Cohort levels differ on purpose: a naive treated-vs-control comparison is
/// then biased and only the differencing removes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    pub n_units: usize,
    pub n_periods: usize,
    pub first_period: i64,
    pub n_provinces: usize,
    /// First-treatment periods to draw from (uniformly) for treated units.
    pub cohorts: Vec<i64>,
    /// Probability that a unit (or province) is never treated.
    pub never_treated_share: f64,
    pub effect_at_onset: f64,
    pub effect_growth: f64,
    pub unit_sd: f64,
    pub province_shock_sd: f64,
    pub noise_sd: f64,
    pub trend: f64,
    /// Whole provinces adopt together (treatment clustered by province),
    /// instead of schools adopting independently.
    pub assign_by_province: bool,
    pub seed: u64,
}

impl SimConfig {
    /// The true effect at event time e.
    pub fn true_effect(&self, e: i64) -> f64 {
        if e < 0 {
            0.0
        } else {
            self.effect_at_onset + self.effect_growth * e as f64
        }
    }

    /// The benchmark's shape: 45,000 schools x 40 periods, 20 cohorts,
    /// 34 provinces.
    pub fn benchmark(seed: u64) -> SimConfig {
        SimConfig {
            n_units: 45_000,
            n_periods: 40,
            first_period: 1,
            n_provinces: 34,
            cohorts: (8..28).collect(),
            never_treated_share: 0.3,
            effect_at_onset: 1.0,
            effect_growth: 0.25,
            unit_sd: 5.0,
            province_shock_sd: 0.5,
            noise_sd: 2.0,
            trend: 0.3,
            assign_by_province: false,
            seed,
        }
    }

    /// A small panel for tests.
    pub fn small(seed: u64) -> SimConfig {
        SimConfig {
            n_units: 3_000,
            n_periods: 8,
            first_period: 2001,
            n_provinces: 30,
            cohorts: vec![2004, 2005, 2006],
            never_treated_share: 0.3,
            effect_at_onset: 2.0,
            effect_growth: 0.5,
            unit_sd: 3.0,
            province_shock_sd: 0.4,
            noise_sd: 1.0,
            trend: 0.2,
            assign_by_province: false,
            seed,
        }
    }
}

/// Draws a panel; unit ids are "S00001"..., provinces "P01"... as clusters.
pub fn simulate_panel(cfg: &SimConfig) -> Panel {
    let mut rng = SimRng::new(cfg.seed);
    let t = cfg.n_periods;
    let np = cfg.n_provinces.max(1);
    let periods: Vec<i64> = (0..t as i64).map(|k| cfg.first_period + k).collect();
    let draw_cohort = |rng: &mut SimRng| -> i64 {
        if cfg.cohorts.is_empty() || rng.uniform() < cfg.never_treated_share {
            0
        } else {
            cfg.cohorts[rng.below(cfg.cohorts.len())]
        }
    };
    let province_cohort: Vec<i64> = (0..np).map(|_| draw_cohort(&mut rng)).collect();
    let shocks: Vec<f64> = (0..np * t)
        .map(|_| cfg.province_shock_sd * rng.normal())
        .collect();

    let mut ids = Vec::with_capacity(cfg.n_units);
    let mut gs = Vec::with_capacity(cfg.n_units);
    let mut provinces = Vec::with_capacity(cfg.n_units);
    let mut y = Vec::with_capacity(cfg.n_units * t);
    for i in 0..cfg.n_units {
        let p = rng.below(np);
        let g = if cfg.assign_by_province {
            province_cohort[p]
        } else {
            draw_cohort(&mut rng)
        };
        let level = if g == 0 {
            50.0
        } else {
            45.0 + 0.5 * (g - cfg.first_period) as f64
        };
        let a = level + cfg.unit_sd * rng.normal();
        for (k, &period) in periods.iter().enumerate() {
            let effect = if g > 0 {
                cfg.true_effect(period - g)
            } else {
                0.0
            };
            y.push(
                a + cfg.trend * k as f64 + shocks[p * t + k] + effect + cfg.noise_sd * rng.normal(),
            );
        }
        ids.push(format!("S{:05}", i + 1));
        gs.push(g);
        provinces.push(format!("P{:02}", p + 1));
    }
    Panel::new(ids, periods, gs, y, Some(provinces)).expect("simulated panel is well formed")
}
