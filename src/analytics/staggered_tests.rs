//! Tests for the staggered estimator: a literal, slow re-implementation of
//! `did`'s computations (dense n x K influence matrix, the wif = if1 - if2
//! weight term, getSE, the Wald pre-test) to check the fast engine against,
//! plus simulations with a known truth.

use nalgebra::{DMatrix, DVector};

use super::error::AnalyticsError;
use super::panel::Panel;
use super::sim::{simulate_panel, SimConfig};
use super::staggered::{
    staggered_did, ControlGroup, PretestReference, PretestStatus, StaggeredAnalysis,
    StaggeredOptions,
};
use super::warnings::WarningKind;

struct RefOut {
    cells: Vec<(i64, i64, f64, f64)>,
    simple: (f64, f64),
    group: (f64, f64),
    group_g: Vec<(i64, f64, f64)>,
    dynamic: (f64, f64),
    es: Vec<(i64, f64, f64)>,
    wald: Option<(f64, usize)>,
    es_wald: Option<(f64, usize)>,
}

/// Straight transcription of did's att_gt + aggte for panel data without
/// covariates, with a never-treated group present. `cluster` sums influence
/// functions within clusters before squaring.
fn reference(panel: &Panel, control: ControlGroup, cluster: bool) -> RefOut {
    let periods = panel.periods().to_vec();
    let tn = periods.len();
    let first = periods[0];
    let last = periods[tn - 1];
    // pre_process_did: late cohorts become never treated; first-period
    // cohorts are dropped.
    let mut gs = Vec::new();
    let mut ys: Vec<&[f64]> = Vec::new();
    let mut cl = Vec::new();
    for i in 0..panel.n_units() {
        let mut g = panel.first_treated()[i];
        if g > last {
            g = 0;
        }
        if g != 0 && g <= first {
            continue;
        }
        gs.push(g);
        ys.push(panel.unit_outcomes(i));
        cl.push(panel.clusters().map(|c| c[i]).unwrap_or(i));
    }
    let n = gs.len();
    let nf = n as f64;
    let mut glist: Vec<i64> = gs.iter().copied().filter(|&g| g > 0).collect();
    glist.sort_unstable();
    glist.dedup();

    // compute.att_gt
    let mut cell_g = Vec::new();
    let mut cell_t = Vec::new();
    let mut att = Vec::new();
    let mut cols: Vec<Vec<f64>> = Vec::new();
    for &g in &glist {
        for t in 1..tn {
            let pret = if g <= periods[t] {
                periods.iter().rposition(|&p| p < g).unwrap()
            } else {
                t - 1
            };
            let dy: Vec<f64> = ys.iter().map(|y| y[t] - y[pret]).collect();
            let d: Vec<bool> = gs.iter().map(|&x| x == g).collect();
            let c: Vec<bool> = gs
                .iter()
                .map(|&x| match control {
                    ControlGroup::NeverTreated => x == 0,
                    ControlGroup::NotYetTreated => x == 0 || (x > periods[t] && x != g),
                })
                .collect();
            let ng = d.iter().filter(|&&b| b).count() as f64;
            let nc = c.iter().filter(|&&b| b).count() as f64;
            let mg = (0..n).filter(|&i| d[i]).map(|i| dy[i]).sum::<f64>() / ng;
            let mc = (0..n).filter(|&i| c[i]).map(|i| dy[i]).sum::<f64>() / nc;
            let inf: Vec<f64> = (0..n)
                .map(|i| {
                    let di = if d[i] { (dy[i] - mg) / ng } else { 0.0 };
                    let ci = if c[i] { (dy[i] - mc) / nc } else { 0.0 };
                    nf * (di - ci)
                })
                .collect();
            cell_g.push(g);
            cell_t.push(periods[t]);
            att.push(mg - mc);
            cols.push(inf);
        }
    }
    let k = att.len();
    let inffunc = DMatrix::from_fn(n, k, |i, j| cols[j][i]);
    let n_cl = cl.iter().max().unwrap() + 1;
    let cluster_sum = |v: &DVector<f64>| -> Vec<f64> {
        let mut s = vec![0.0; n_cl];
        for i in 0..n {
            s[cl[i]] += v[i];
        }
        s
    };
    let v_mat = if cluster {
        let mut s = DMatrix::<f64>::zeros(n_cl, k);
        for i in 0..n {
            for j in 0..k {
                s[(cl[i], j)] += inffunc[(i, j)];
            }
        }
        s.transpose() * s / nf
    } else {
        inffunc.transpose() * &inffunc / nf
    };
    let get_se = |v: &DVector<f64>| -> f64 {
        if cluster {
            cluster_sum(v).iter().map(|x| x * x).sum::<f64>().sqrt() / nf
        } else {
            (v.iter().map(|x| x * x).sum::<f64>() / nf / nf).sqrt()
        }
    };
    let cells: Vec<(i64, i64, f64, f64)> = (0..k)
        .map(|j| (cell_g[j], cell_t[j], att[j], (v_mat[(j, j)] / nf).sqrt()))
        .collect();

    // compute.aggte helpers
    let pgg: Vec<f64> = glist
        .iter()
        .map(|&g| gs.iter().filter(|&&x| x == g).count() as f64 / nf)
        .collect();
    let pg: Vec<f64> = cell_g
        .iter()
        .map(|g| pgg[glist.iter().position(|x| x == g).unwrap()])
        .collect();
    // wif(keepers, pg, weights.ind, G, group): if1 - if2
    let wif = |keepers: &[usize], pg: &[f64], group: &[i64]| -> DMatrix<f64> {
        let s: f64 = keepers.iter().map(|&j| pg[j]).sum();
        let if1 = DMatrix::from_fn(n, keepers.len(), |i, m| {
            let j = keepers[m];
            ((gs[i] == group[j]) as i32 as f64 - pg[j]) / s
        });
        let rowsum: Vec<f64> = (0..n)
            .map(|i| {
                keepers
                    .iter()
                    .map(|&j| (gs[i] == group[j]) as i32 as f64 - pg[j])
                    .sum()
            })
            .collect();
        let if2 = DMatrix::from_fn(n, keepers.len(), |i, m| {
            rowsum[i] * pg[keepers[m]] / (s * s)
        });
        if1 - if2
    };
    // get_agg_inf_func
    let agg_if =
        |att: &[f64], inf: &DMatrix<f64>, which: &[usize], w: &[f64], wif: Option<DMatrix<f64>>| {
            let mut out = DVector::<f64>::zeros(n);
            for (m, &j) in which.iter().enumerate() {
                out += inf.column(j) * w[m];
            }
            if let Some(wif) = wif {
                let a = DVector::from_iterator(which.len(), which.iter().map(|&j| att[j]));
                out += wif * a;
            }
            out
        };

    // simple
    let keepers: Vec<usize> = (0..k).filter(|&j| cell_g[j] <= cell_t[j]).collect();
    let s: f64 = keepers.iter().map(|&j| pg[j]).sum();
    let simple_att = keepers.iter().map(|&j| att[j] * pg[j]).sum::<f64>() / s;
    let w: Vec<f64> = keepers.iter().map(|&j| pg[j] / s).collect();
    let simple_if = agg_if(
        &att,
        &inffunc,
        &keepers,
        &w,
        Some(wif(&keepers, &pg, &cell_g)),
    );
    let simple = (simple_att, get_se(&simple_if));

    // group (with the wif using the groups themselves, as fixed in did PR #223)
    let mut att_g = Vec::new();
    let mut inf_g = Vec::new();
    let mut group_g = Vec::new();
    for &g in &glist {
        let which: Vec<usize> = (0..k)
            .filter(|&j| cell_g[j] == g && g <= cell_t[j])
            .collect();
        let sw: f64 = which.iter().map(|&j| pg[j]).sum();
        let w: Vec<f64> = which.iter().map(|&j| pg[j] / sw).collect();
        let a = which.iter().map(|&j| att[j]).sum::<f64>() / which.len() as f64;
        let f = agg_if(&att, &inffunc, &which, &w, None);
        group_g.push((g, a, get_se(&f)));
        att_g.push(a);
        inf_g.push(f);
    }
    let ng = glist.len();
    let inf_g_mat = DMatrix::from_fn(n, ng, |i, j| inf_g[j][i]);
    let sg: f64 = pgg.iter().sum();
    let group_att = att_g.iter().zip(&pgg).map(|(a, p)| a * p).sum::<f64>() / sg;
    let all: Vec<usize> = (0..ng).collect();
    let wg: Vec<f64> = pgg.iter().map(|p| p / sg).collect();
    let group_if = agg_if(&att_g, &inf_g_mat, &all, &wg, Some(wif(&all, &pgg, &glist)));
    let group = (group_att, get_se(&group_if));

    // dynamic
    let mut eseq: Vec<i64> = (0..k).map(|j| cell_t[j] - cell_g[j]).collect();
    eseq.sort_unstable();
    eseq.dedup();
    let mut es = Vec::new();
    let mut pos_att = Vec::new();
    let mut pos_if = Vec::new();
    let mut neg: Vec<(f64, DVector<f64>)> = Vec::new();
    for &e in &eseq {
        let which: Vec<usize> = (0..k).filter(|&j| cell_t[j] - cell_g[j] == e).collect();
        let s: f64 = which.iter().map(|&j| pg[j]).sum();
        let w: Vec<f64> = which.iter().map(|&j| pg[j] / s).collect();
        let a = which.iter().zip(&w).map(|(&j, w)| att[j] * w).sum::<f64>();
        let f = agg_if(&att, &inffunc, &which, &w, Some(wif(&which, &pg, &cell_g)));
        es.push((e, a, get_se(&f)));
        if e >= 0 {
            pos_att.push(a);
            pos_if.push(f);
        } else {
            neg.push((a, f));
        }
    }
    let m = pos_att.len() as f64;
    let mut dyn_if = DVector::<f64>::zeros(n);
    for f in &pos_if {
        dyn_if += f / m;
    }
    let dynamic = (pos_att.iter().sum::<f64>() / m, get_se(&dyn_if));

    // Wald pre-test
    let pre: Vec<usize> = (0..k).filter(|&j| cell_g[j] > cell_t[j]).collect();
    let wald = if pre.is_empty() {
        None
    } else {
        let vp = DMatrix::from_fn(pre.len(), pre.len(), |a, b| v_mat[(pre[a], pre[b])]);
        let th = DVector::from_iterator(pre.len(), pre.iter().map(|&j| att[j]));
        let inv = vp.try_inverse().unwrap();
        Some(((th.transpose() * inv * &th)[(0, 0)] * nf, pre.len()))
    };
    // Event-study pre-test: theta(e), e < 0, jointly zero, V = IF'IF / n
    // (or its cluster-summed version).
    let es_wald = (!neg.is_empty()).then(|| {
        let m = neg.len();
        let col = |a: usize| -> Vec<f64> {
            if cluster {
                cluster_sum(&neg[a].1)
            } else {
                neg[a].1.iter().copied().collect()
            }
        };
        let cols: Vec<Vec<f64>> = (0..m).map(col).collect();
        let v = DMatrix::from_fn(m, m, |a, b| {
            cols[a]
                .iter()
                .zip(&cols[b])
                .map(|(x, y)| x * y)
                .sum::<f64>()
                / nf
        });
        let th = DVector::from_iterator(m, neg.iter().map(|(a, _)| *a));
        (
            (th.transpose() * v.try_inverse().unwrap() * &th)[(0, 0)] * nf,
            m,
        )
    });
    RefOut {
        es_wald,
        cells,
        simple,
        group,
        group_g,
        dynamic,
        es,
        wald,
    }
}

fn close(a: f64, b: f64, what: &str) {
    let tol = 1e-9 * (1.0 + b.abs());
    assert!((a - b).abs() < tol, "{what}: fast {a} vs reference {b}");
}

fn compare(panel: &Panel, control: ControlGroup, cluster: bool) {
    let fast = staggered_did(
        panel,
        &StaggeredOptions {
            control_group: control,
            cluster,
        },
    )
    .unwrap();
    let r = reference(panel, control, cluster);
    let res = &fast.result;
    assert_eq!(res.att_gt.len(), r.cells.len());
    for (c, (g, t, att, se)) in res.att_gt.iter().zip(&r.cells) {
        assert_eq!((c.group, c.period), (*g, *t));
        close(c.att, *att, &format!("ATT({g},{t})"));
        close(c.se.unwrap(), *se, &format!("se ATT({g},{t})"));
    }
    close(res.simple.att, r.simple.0, "simple att");
    close(res.simple.se.unwrap(), r.simple.1, "simple se");
    close(res.group.att, r.group.0, "group att");
    close(res.group.se.unwrap(), r.group.1, "group se");
    for (a, b) in fast.group_effects.iter().zip(&r.group_g) {
        assert_eq!(a.group, b.0);
        close(a.att, b.1, "group effect");
        close(a.se.unwrap(), b.2, "group effect se");
    }
    close(res.dynamic.att, r.dynamic.0, "dynamic att");
    close(res.dynamic.se.unwrap(), r.dynamic.1, "dynamic se");
    assert_eq!(res.dynamic.event_times.len(), r.es.len());
    for (a, b) in res.dynamic.event_times.iter().zip(&r.es) {
        assert_eq!(a.e, b.0);
        close(a.att, b.1, &format!("theta({})", b.0));
        close(a.se.unwrap(), b.2, &format!("se theta({})", b.0));
    }
    let (w, df) = r.wald.unwrap();
    let p = res.pretest.as_ref().expect("pretest computed");
    assert_eq!(p.df, df);
    assert!(
        (p.w - w).abs() < 1e-7 * (1.0 + w),
        "W fast {} vs reference {w}",
        p.w
    );
    let (w, df) = r.es_wald.unwrap();
    let p = fast
        .event_study_pretest
        .as_ref()
        .expect("event-study pretest computed");
    assert_eq!(p.df, df);
    assert!(
        (p.w - w).abs() < 1e-7 * (1.0 + w),
        "event-study W fast {} vs reference {w}",
        p.w
    );
    match p.reference {
        PretestReference::ChiSquare => assert!(!cluster),
        PretestReference::HotellingF { df1, df2 } => {
            assert!(cluster);
            let g = fast.n_clusters.unwrap();
            assert_eq!((df1, df2), (df, g - df));
        }
    }
}

fn test_panel(seed: u64) -> Panel {
    let mut cfg = SimConfig::small(seed);
    cfg.n_units = 400;
    cfg.n_periods = 6;
    cfg.first_period = 1;
    // 7 is after the last period (recoded to never), 1 is the first period
    // (dropped): both exercise did's preprocessing.
    cfg.cohorts = vec![1, 3, 4, 5, 7];
    cfg.n_provinces = 30;
    simulate_panel(&cfg)
}

#[test]
fn fast_engine_matches_literal_did_computation() {
    let panel = test_panel(11);
    compare(&panel, ControlGroup::NeverTreated, false);
    compare(&panel, ControlGroup::NotYetTreated, false);
}

#[test]
fn fast_engine_matches_literal_computation_when_clustered() {
    let panel = test_panel(12);
    compare(&panel, ControlGroup::NeverTreated, true);
    compare(&panel, ControlGroup::NotYetTreated, true);
}

#[test]
fn preprocessing_matches_did() {
    let panel = test_panel(13);
    let out = staggered_did(&panel, &StaggeredOptions::default()).unwrap();
    let dropped = panel.first_treated().iter().filter(|&&g| g == 1).count();
    assert!(dropped > 0);
    assert_eq!(out.n_units, panel.n_units() - dropped);
    let groups: Vec<i64> = out.group_effects.iter().map(|g| g.group).collect();
    assert_eq!(groups, vec![3, 4, 5]);
    assert!(
        out.warnings
            .iter()
            .filter(|w| w.kind == WarningKind::DataAdjusted)
            .count()
            >= 2
    );
    // Every treated cohort x every period after the first.
    assert_eq!(out.result.att_gt.len(), 3 * 5);
}

/// Truths for the simulated panel: ATT(g,t) = tau(t - g) for everyone, so the
/// aggregates are the same weighted averages of tau with realised cohort sizes.
fn truth_simple(cfg: &SimConfig, out: &StaggeredAnalysis) -> f64 {
    let size = |g: i64| {
        out.cohorts
            .iter()
            .find(|c| c.first_treated == g)
            .unwrap()
            .n_units as f64
    };
    let (mut num, mut den) = (0.0, 0.0);
    for c in out.result.att_gt.iter().filter(|c| c.period >= c.group) {
        num += size(c.group) * cfg.true_effect(c.period - c.group);
        den += size(c.group);
    }
    num / den
}

#[test]
fn simulated_panel_recovers_growing_effect() {
    let mut cfg = SimConfig::small(2024);
    cfg.n_units = 6_000;
    cfg.n_periods = 10;
    cfg.cohorts = vec![2004, 2005, 2006, 2007];
    let panel = simulate_panel(&cfg);
    for cluster in [false, true] {
        let out = staggered_did(
            &panel,
            &StaggeredOptions {
                control_group: ControlGroup::NeverTreated,
                cluster,
            },
        )
        .unwrap();
        let res = &out.result;
        let truth = truth_simple(&cfg, &out);
        let se = res.simple.se.unwrap();
        assert!(
            (res.simple.att - truth).abs() < 4.0 * se && (res.simple.att - truth).abs() < 0.15,
            "simple {} vs truth {truth} (se {se})",
            res.simple.att
        );
        for et in &res.dynamic.event_times {
            let tr = cfg.true_effect(et.e);
            let se = et.se.unwrap();
            assert!(
                (et.att - tr).abs() < 4.0 * se && (et.att - tr).abs() < 0.3,
                "theta({}) = {} vs truth {tr} (se {se})",
                et.e,
                et.att
            );
        }
        // The effect grows: theta(e) increases by about effect_growth per period.
        let th = |e: i64| {
            res.dynamic
                .event_times
                .iter()
                .find(|x| x.e == e)
                .unwrap()
                .att
        };
        assert!((th(4) - th(0) - 4.0 * cfg.effect_growth).abs() < 0.3);
        let p = res.pretest.as_ref().unwrap();
        assert!(p.p > 0.001, "pre-test rejects under parallel trends: {p:?}");
    }
}

#[test]
fn zero_effect_is_centred_on_zero() {
    let mut cfg = SimConfig::small(99);
    cfg.n_units = 5_000;
    cfg.effect_at_onset = 0.0;
    cfg.effect_growth = 0.0;
    let panel = simulate_panel(&cfg);
    let out = staggered_did(&panel, &StaggeredOptions::default()).unwrap();
    let res = &out.result;
    let p = res.pretest.as_ref().unwrap();
    assert!(p.p > 0.01, "pre-test p = {} in a seeded null run", p.p);
    for agg in [&res.simple, &res.group] {
        assert!(agg.att.abs() < 3.0 * agg.se.unwrap(), "{agg:?}");
    }
    assert!(res.dynamic.att.abs() < 3.0 * res.dynamic.se.unwrap());
    // Pre and post event-time effects scatter around zero: their mean t-stat is small.
    let t: Vec<f64> = res
        .dynamic
        .event_times
        .iter()
        .map(|e| e.att / e.se.unwrap())
        .collect();
    let mean_t = t.iter().sum::<f64>() / t.len() as f64;
    assert!(mean_t.abs() < 1.5, "mean t {mean_t}");
    assert!(!out
        .warnings
        .iter()
        .any(|w| w.kind == WarningKind::PretrendRejected));
}

#[test]
fn never_and_not_yet_treated_controls_agree_without_anticipation() {
    let mut cfg = SimConfig::small(7);
    cfg.n_units = 20_000;
    cfg.n_periods = 8;
    let panel = simulate_panel(&cfg);
    let run = |control| {
        staggered_did(
            &panel,
            &StaggeredOptions {
                control_group: control,
                cluster: false,
            },
        )
        .unwrap()
    };
    let nev = run(ControlGroup::NeverTreated);
    let nyt = run(ControlGroup::NotYetTreated);
    let (a, b) = (&nev.result, &nyt.result);
    let se = a.simple.se.unwrap();
    assert!(
        (a.simple.att - b.simple.att).abs() < 2.0 * se,
        "{} vs {}",
        a.simple.att,
        b.simple.att
    );
    for (x, y) in a.dynamic.event_times.iter().zip(&b.dynamic.event_times) {
        assert_eq!(x.e, y.e);
        assert!(
            (x.att - y.att).abs() < 2.5 * x.se.unwrap(),
            "theta({})",
            x.e
        );
    }
    // Structural facts. In the last period nobody is "not yet" treated, so the
    // comparison groups and hence the cells coincide exactly...
    let last = *panel.periods().last().unwrap();
    for (x, y) in a.att_gt.iter().zip(&b.att_gt) {
        assert_eq!((x.group, x.period), (y.group, y.period));
        if x.period == last {
            assert_eq!(x.att, y.att);
            assert_eq!(x.se, y.se);
        }
    }
    // ...while earlier cells borrow later cohorts as controls: different
    // numbers and, with more controls, smaller standard errors.
    let early_a = a
        .att_gt
        .iter()
        .find(|c| c.group == 2004 && c.period == 2004)
        .unwrap();
    let early_b = b
        .att_gt
        .iter()
        .find(|c| c.group == 2004 && c.period == 2004)
        .unwrap();
    assert_ne!(early_a.att, early_b.att);
    assert!(early_b.se.unwrap() < early_a.se.unwrap());
}

#[test]
fn without_never_treated_units_only_not_yet_treated_works() {
    let mut cfg = SimConfig::small(5);
    cfg.never_treated_share = 0.0;
    cfg.n_units = 2_000;
    let panel = simulate_panel(&cfg);
    match staggered_did(&panel, &StaggeredOptions::default()) {
        Err(AnalyticsError::NotIdentified { message }) => {
            assert!(message.contains("never-treated"), "{message}")
        }
        other => panic!("expected a clear error, got {other:?}"),
    }
    let out = staggered_did(
        &panel,
        &StaggeredOptions {
            control_group: ControlGroup::NotYetTreated,
            cluster: false,
        },
    )
    .unwrap();
    // As in did: periods from the last cohort (2006) on are dropped and that
    // cohort only serves as a control.
    assert_eq!(out.periods_used, vec![2001, 2002, 2003, 2004, 2005]);
    let groups: Vec<i64> = out.group_effects.iter().map(|g| g.group).collect();
    assert_eq!(groups, vec![2004, 2005]);
    assert!(out.result.att_gt.iter().all(|c| c.period < 2006));
    let truth = truth_simple(&cfg, &out);
    assert!((out.result.simple.att - truth).abs() < 4.0 * out.result.simple.se.unwrap());
}

#[test]
fn json_shape_matches_contract() {
    let panel = test_panel(3);
    let out = staggered_did(&panel, &StaggeredOptions::default()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&out.result_json()).unwrap();
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&v),
        ["att_gt", "dynamic", "group", "pretest", "simple"]
    );
    assert_eq!(keys(&v["att_gt"][0]), ["att", "group", "period", "se"]);
    assert_eq!(keys(&v["simple"]), ["att", "se"]);
    assert_eq!(keys(&v["group"]), ["att", "se"]);
    assert_eq!(keys(&v["dynamic"]), ["att", "event_times", "se"]);
    assert_eq!(keys(&v["dynamic"]["event_times"][0]), ["att", "e", "se"]);
    assert_eq!(keys(&v["pretest"]), ["df", "p", "w"]);
    assert!(v["att_gt"][0]["group"].is_i64());
    assert!(v["pretest"]["df"].is_u64());
}

#[test]
fn no_pre_periods_gives_null_pretest() {
    // Every cohort starts in the second period: nothing to test.
    let mut cfg = SimConfig::small(4);
    cfg.cohorts = vec![2002];
    cfg.n_units = 300;
    let panel = simulate_panel(&cfg);
    let out = staggered_did(&panel, &StaggeredOptions::default()).unwrap();
    assert_eq!(out.pretest_status, PretestStatus::NoPrePeriods);
    let v: serde_json::Value = serde_json::from_str(&out.result_json()).unwrap();
    assert!(v["pretest"].is_null());
}

#[test]
fn singular_pretest_is_reported_not_panicked() {
    // 10 pre-period cells but only 6 clusters: the clustered covariance has
    // rank at most 5.
    let mut cfg = SimConfig::small(8);
    cfg.n_provinces = 6;
    cfg.n_units = 600;
    let panel = simulate_panel(&cfg);
    let out = staggered_did(
        &panel,
        &StaggeredOptions {
            control_group: ControlGroup::NeverTreated,
            cluster: true,
        },
    )
    .unwrap();
    assert!(out.result.pretest.is_none());
    assert!(matches!(out.pretest_status, PretestStatus::Singular { .. }));
    let kinds: Vec<WarningKind> = out.warnings.iter().map(|w| w.kind).collect();
    assert!(kinds.contains(&WarningKind::PretestUnavailable));
    assert!(kinds.contains(&WarningKind::FewClusters));
    // The event-study version has 4 restrictions (e = -4..-1) < 6 clusters.
    assert_eq!(out.event_study_pretest.as_ref().map(|p| p.df), Some(4));

    // An exactly collinear unclustered case: cohorts 3 and 4 have a single
    // unit each, so the treated half of each influence function is zero and
    // the pre-period cells (3,2) and (4,2) share the same control half:
    // identical influence functions, singular covariance.
    let periods = vec![1, 2, 3, 4];
    let mut ids = Vec::new();
    let mut gs = Vec::new();
    let mut y = Vec::new();
    for i in 0..8 {
        ids.push(format!("u{i}"));
        gs.push(match i {
            6 => 3,
            7 => 4,
            _ => 0,
        });
        let a = i as f64;
        y.extend_from_slice(&[a, a + (a * 1.7).sin(), a + (a * 0.3).cos(), 2.0 * a]);
    }
    let panel = Panel::new(ids, periods, gs, y, None).unwrap();
    let out = staggered_did(&panel, &StaggeredOptions::default()).unwrap();
    assert!(out.result.pretest.is_none(), "{:?}", out.result.pretest);
    assert!(matches!(out.pretest_status, PretestStatus::Singular { .. }));
}

/// 95% CI coverage over a few hundred seeded replications. Slow in debug
/// builds: run with `cargo test --release -- --ignored --nocapture`.
///
/// Scenario A: schools adopt independently; unit-level and province-clustered
/// intervals should both cover about 95%. Scenario B: whole provinces adopt
/// together and share shocks; only the clustered intervals stay near 95%,
/// which is the reason the clustering option exists.
#[test]
#[ignore]
fn monte_carlo_confidence_interval_coverage() {
    let reps = 400;
    let z = 1.959963984540054;
    // [scenario][clustered][simple, theta(0)]
    let mut hits = [[[0usize; 2]; 2]; 2];
    let mut runs = [[0usize; 2]; 2];
    // Pre-trends are parallel in every draw, so these count false alarms:
    // [scenario][clustered][cell-level test, event-study test].
    let mut rejections = [[[0usize; 2]; 2]; 2];
    let mut tests_run = [[[0usize; 2]; 2]; 2];
    for r in 0..reps {
        for (scenario, by_province) in [(0, false), (1, true)] {
            let mut cfg = SimConfig::small(10_000 + r as u64);
            cfg.n_units = 1_500;
            cfg.assign_by_province = by_province;
            cfg.province_shock_sd = if by_province { 0.6 } else { 0.3 };
            let panel = simulate_panel(&cfg);
            for (slot, cluster) in [(0, false), (1, true)] {
                let out = match staggered_did(
                    &panel,
                    &StaggeredOptions {
                        control_group: ControlGroup::NeverTreated,
                        cluster,
                    },
                ) {
                    Ok(out) => out,
                    // A province draw can leave no never-treated province.
                    Err(AnalyticsError::NotIdentified { .. }) => continue,
                    Err(e) => panic!("{e}"),
                };
                let res = &out.result;
                let truth = truth_simple(&cfg, &out);
                let se = res.simple.se.unwrap();
                runs[scenario][slot] += 1;
                hits[scenario][slot][0] += ((res.simple.att - truth).abs() <= z * se) as usize;
                let e0 = res.dynamic.event_times.iter().find(|e| e.e == 0).unwrap();
                hits[scenario][slot][1] +=
                    ((e0.att - cfg.true_effect(0)).abs() <= z * e0.se.unwrap()) as usize;
                let ps = [
                    res.pretest.as_ref().map(|p| p.p),
                    out.event_study_pretest.as_ref().map(|p| p.p),
                ];
                for (j, p) in ps.iter().enumerate() {
                    if let Some(p) = p {
                        tests_run[scenario][slot][j] += 1;
                        rejections[scenario][slot][j] += (*p < 0.05) as usize;
                    }
                }
            }
        }
    }
    let cov = |s: usize, c: usize, k: usize| hits[s][c][k] as f64 / runs[s][c] as f64;
    assert!(
        runs.iter().flatten().all(|&r| r > reps * 9 / 10),
        "{runs:?}"
    );
    eprintln!(
        "coverage (simple, theta0): A unclustered ({:.3}, {:.3}) A clustered ({:.3}, {:.3}) \
         B unclustered ({:.3}, {:.3}) B clustered ({:.3}, {:.3})",
        cov(0, 0, 0),
        cov(0, 0, 1),
        cov(0, 1, 0),
        cov(0, 1, 1),
        cov(1, 0, 0),
        cov(1, 0, 1),
        cov(1, 1, 0),
        cov(1, 1, 1)
    );
    let rej = |s: usize, c: usize, j: usize| {
        rejections[s][c][j] as f64 / tests_run[s][c][j].max(1) as f64
    };
    eprintln!(
        "pre-test rejection at 5% (cell-level, event-study): A unclustered ({:.3}, {:.3}) \
         A clustered ({:.3}, {:.3}) B unclustered ({:.3}, {:.3}) B clustered ({:.3}, {:.3})",
        rej(0, 0, 0),
        rej(0, 0, 1),
        rej(0, 1, 0),
        rej(0, 1, 1),
        rej(1, 0, 0),
        rej(1, 0, 1),
        rej(1, 1, 0),
        rej(1, 1, 1)
    );
    // did's test at its home turf: about 5% false alarms; with clustering
    // and the Hotelling F reference, too.
    assert!(
        rej(0, 0, 0) <= 0.09,
        "cell-level pre-test size {}",
        rej(0, 0, 0)
    );
    assert!(
        rej(0, 1, 0) <= 0.09,
        "clustered cell-level size {}",
        rej(0, 1, 0)
    );
    // The Hotelling-F event-study test keeps its size with province clustering.
    assert!(
        rej(1, 1, 1) <= 0.10,
        "clustered event-study pre-test size {}",
        rej(1, 1, 1)
    );
    // Binomial sd at 95% over 400 draws is 1.1 points; allow about 3 sd, and
    // a little more below for clustered inference with 30 clusters and a
    // normal critical value.
    for k in 0..2 {
        assert!(
            (0.915..=0.985).contains(&cov(0, 0, k)),
            "A unclustered {}",
            cov(0, 0, k)
        );
        assert!(
            (0.89..=0.985).contains(&cov(0, 1, k)),
            "A clustered {}",
            cov(0, 1, k)
        );
        assert!(
            (0.88..=0.985).contains(&cov(1, 1, k)),
            "B clustered {}",
            cov(1, 1, k)
        );
        assert!(
            cov(1, 0, k) < cov(1, 1, k),
            "B: clustering should raise coverage"
        );
    }
}

#[test]
fn csv_round_trip_gives_the_same_analysis() {
    let panel = test_panel(21);
    let mut text = String::from("school,period,outcome,first_treated,unit,province\n");
    let labels = panel.cluster_labels();
    let clusters = panel.clusters().unwrap();
    // Rows in period-major order with an extra column, to exercise the reader.
    for (t, period) in panel.periods().iter().enumerate() {
        for i in 0..panel.n_units() {
            text.push_str(&format!(
                "x,{period},{:?},{},{},{}\n",
                panel.unit_outcomes(i)[t],
                panel.first_treated()[i],
                panel.unit_ids()[i],
                labels[clusters[i]]
            ));
        }
    }
    let built = super::panel::read_panel_csv(
        text.as_bytes(),
        &super::panel::PanelCsvOptions {
            cluster_column: Some("Province".into()),
            balance: super::panel::BalancePolicy::Strict,
        },
    )
    .unwrap();
    assert_eq!(built.panel, panel);
    let opts = StaggeredOptions {
        control_group: ControlGroup::NotYetTreated,
        cluster: true,
    };
    assert_eq!(
        staggered_did(&built.panel, &opts).unwrap(),
        staggered_did(&panel, &opts).unwrap()
    );
}

/// External cross-check. The panel of `test_panel(11)` was written to CSV and
/// run through csdid 0.4.3 (PyPI), the Python port of R's `did` that tracks
/// did 2.5.0, as `ATTgt(..., control_group=c).fit(est_method="dr",
/// bstrap=False)` followed by `aggte(typec=..., bstrap=False, cband=False)`.
/// The numbers below are its output, pasted verbatim (Wpval is rounded to 5
/// decimals by did/csdid).
#[test]
fn matches_csdid_reference_output() {
    let panel = test_panel(11);
    type Expected = (ControlGroup, [(f64, f64); 3], f64, f64, (f64, f64));
    let expected: [Expected; 2] = [
        (
            ControlGroup::NeverTreated,
            [
                (2.3821314241686204, 0.11995794412425202),
                (2.321512848105906, 0.11360513759310426),
                (2.564878128960669, 0.13489602354770916),
            ],
            2.661239185741383,
            0.85,
            (2.9480850732281887, 0.23473622062606345),
        ),
        (
            ControlGroup::NotYetTreated,
            [
                (2.3761826413268086, 0.12141507460322704),
                (2.3162156373438383, 0.11648706557487519),
                (2.5603649627873293, 0.13506310424419213),
            ],
            2.659726788294807,
            0.85018,
            (2.9480850732281887, 0.23473622062606345),
        ),
    ];
    for (control, aggs, w, wp, att46) in expected {
        let out = staggered_did(
            &panel,
            &StaggeredOptions {
                control_group: control,
                cluster: false,
            },
        )
        .unwrap();
        let r = &out.result;
        let ours = [
            (r.simple.att, r.simple.se.unwrap()),
            (r.group.att, r.group.se.unwrap()),
            (r.dynamic.att, r.dynamic.se.unwrap()),
        ];
        for ((a, s), (ea, es)) in ours.iter().zip(aggs) {
            close(*a, ea, "aggregate att vs csdid");
            close(*s, es, "aggregate se vs csdid");
        }
        let p = r.pretest.as_ref().unwrap();
        close(p.w, w, "W vs csdid");
        assert!((p.p - wp).abs() <= 5e-6, "p {} vs csdid {wp}", p.p);
        let c = r
            .att_gt
            .iter()
            .find(|c| c.group == 4 && c.period == 6)
            .unwrap();
        close(c.att, att46.0, "ATT(4,6) vs csdid");
        close(c.se.unwrap(), att46.1, "se ATT(4,6) vs csdid");
    }
}
