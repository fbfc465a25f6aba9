//! Reader of XGBoost's JSON model format (`Booster.save_model("m.json")`,
//! XGBoost 1.6 and later): `learner.gradient_booster.model.trees[]` with
//! `split_indices`, `split_conditions` (the leaf value at a leaf),
//! `left_children`, `right_children` (-1 at a leaf), `tree_info` (the output
//! each tree adds to), `learner.learner_model_param` (`base_score`,
//! `num_class`, `num_target`, `num_feature`) and `learner.objective.name`.
//!
//! Optional `learner.attributes.input_shape` (`Booster.set_attr(input_shape="12,7")`)
//! declares the model's input shape; without it the input is `[num_feature]`.

use serde_json::Value;

use super::{Ensemble, Tree};
use crate::error::{Error, Result};

fn bad(detail: impl Into<String>) -> Error {
    Error::Invalid(format!("XGBoost JSON: {}", detail.into()))
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Result<&'a Value> {
    let mut cur = v;
    for (i, key) in path.iter().enumerate() {
        cur = cur
            .get(key)
            .ok_or_else(|| bad(format!("missing `{}`", path[..=i].join("."))))?;
    }
    Ok(cur)
}

/// XGBoost writes its parameters as strings ("4"), sometimes as numbers.
fn param_usize(v: &Value, path: &[&str]) -> Result<usize> {
    let field = get(v, path)?;
    let parsed = match field {
        Value::String(s) => s.trim().parse::<usize>().ok(),
        Value::Number(n) => n.as_u64().map(|n| n as usize),
        _ => None,
    };
    parsed.ok_or_else(|| bad(format!("`{}` is not a count: {field}", path.join("."))))
}

/// `base_score`: "5E-1" (XGBoost 1.x/2.x) or "[5E-1]" / "[a,b,c]" (3.x).
fn base_scores(text: &str) -> Result<Vec<f64>> {
    text.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse::<f64>()
                .map_err(|_| bad(format!("base_score `{text}` is not a number list")))
        })
        .collect()
}

fn numbers(tree: &Value, key: &str, index: usize) -> Result<Vec<f64>> {
    let arr = tree
        .get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| bad(format!("tree {index}: missing array `{key}`")))?;
    arr.iter()
        .map(|x| {
            x.as_f64()
                .ok_or_else(|| bad(format!("tree {index}: `{key}` holds a non-number {x}")))
        })
        .collect()
}

fn integers(tree: &Value, key: &str, index: usize) -> Result<Vec<i64>> {
    numbers(tree, key, index)?
        .into_iter()
        .map(|x| {
            if x.fract() == 0.0 && x.abs() < 1e15 {
                Ok(x as i64)
            } else {
                Err(bad(format!(
                    "tree {index}: `{key}` holds a non-integer {x}"
                )))
            }
        })
        .collect()
}

fn parse_tree(tree: &Value, index: usize, n_features: usize) -> Result<Tree> {
    let left = integers(tree, "left_children", index)?;
    let right = integers(tree, "right_children", index)?;
    let split = integers(tree, "split_indices", index)?;
    let cond = numbers(tree, "split_conditions", index)?;
    let n = left.len();
    if n == 0 || right.len() != n || split.len() != n || cond.len() != n {
        return Err(bad(format!(
            "tree {index}: node arrays differ in length (left {n}, right {}, split_indices {}, split_conditions {})",
            right.len(),
            split.len(),
            cond.len()
        )));
    }
    if let Some(types) = tree.get("split_type").and_then(Value::as_array)
        && types.iter().any(|t| t.as_i64() != Some(0))
    {
        return Err(bad(format!(
            "tree {index}: categorical splits are not supported (numerical features only)"
        )));
    }
    let mut t = Tree {
        feature: Vec::with_capacity(n),
        threshold: Vec::with_capacity(n),
        left: Vec::with_capacity(n),
        right: Vec::with_capacity(n),
        le: Vec::new(),
    };
    for i in 0..n {
        let leaf = left[i] < 0;
        if leaf != (right[i] < 0) {
            return Err(bad(format!(
                "tree {index} node {i}: one child is a leaf marker, the other is not"
            )));
        }
        if leaf {
            t.feature.push(-1);
            t.left.push(0);
            t.right.push(0);
        } else {
            let f = split[i];
            if f < 0 || f as usize >= n_features {
                return Err(bad(format!(
                    "tree {index} node {i}: feature {f} is outside 0..{n_features}"
                )));
            }
            for c in [left[i], right[i]] {
                if c as usize >= n {
                    return Err(bad(format!(
                        "tree {index} node {i}: child {c} is outside the tree's {n} nodes"
                    )));
                }
            }
            t.feature.push(f as i32);
            t.left.push(left[i] as u32);
            t.right.push(right[i] as u32);
        }
        // At a split: the threshold; at a leaf: the leaf value.
        t.threshold.push(cond[i]);
    }
    Ok(t)
}

/// Parses an XGBoost JSON model document.
pub fn parse(doc: &Value) -> Result<Ensemble> {
    let learner = get(doc, &["learner"])?;
    let booster = get(learner, &["gradient_booster", "name"])?
        .as_str()
        .unwrap_or("");
    if booster != "gbtree" {
        return Err(bad(format!(
            "booster `{booster}` is not supported (gbtree only; dart and gblinear are not)"
        )));
    }
    let n_features = param_usize(learner, &["learner_model_param", "num_feature"])?;
    let num_class = param_usize(learner, &["learner_model_param", "num_class"]).unwrap_or(0);
    let num_target = param_usize(learner, &["learner_model_param", "num_target"]).unwrap_or(1);
    let n_outputs = num_class.max(num_target).max(1);
    let objective = get(learner, &["objective", "name"])?
        .as_str()
        .unwrap_or_default()
        .to_string();
    let base_text = get(learner, &["learner_model_param", "base_score"])?
        .as_str()
        .ok_or_else(|| bad("`base_score` is not a string"))?;
    let mut base = base_scores(base_text)?;
    if base.len() == 1 {
        base = vec![base[0]; n_outputs];
    }
    if base.len() != n_outputs {
        return Err(bad(format!(
            "{} base scores for {n_outputs} outputs",
            base.len()
        )));
    }
    let model = get(learner, &["gradient_booster", "model"])?;
    let trees_json = get(model, &["trees"])?
        .as_array()
        .ok_or_else(|| bad("`trees` is not an array"))?;
    let info = model
        .get("tree_info")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut trees = Vec::with_capacity(trees_json.len());
    for (i, tj) in trees_json.iter().enumerate() {
        let output = match info.get(i) {
            Some(v) => v
                .as_u64()
                .ok_or_else(|| bad(format!("tree_info[{i}] is not an index")))?
                as usize,
            None if n_outputs == 1 => 0,
            None => return Err(bad(format!("tree_info has no entry for tree {i}"))),
        };
        if output >= n_outputs {
            return Err(bad(format!(
                "tree {i} adds to output {output} of {n_outputs}"
            )));
        }
        trees.push((output, parse_tree(tj, i, n_features)?));
    }
    let input_shape = match learner
        .get("attributes")
        .and_then(|a| a.get("input_shape"))
        .and_then(Value::as_str)
    {
        Some(s) => parse_shape(s, n_features)?,
        None => vec![n_features],
    };
    Ok(Ensemble {
        n_features,
        n_outputs,
        input_shape,
        trees,
        base_score: base,
        objective,
        source: "XGBoost".into(),
    })
}

fn parse_shape(s: &str, n_features: usize) -> Result<Vec<usize>> {
    let dims: Vec<usize> = s
        .trim_matches(|c| c == '[' || c == ']' || c == '(' || c == ')')
        .split(',')
        .filter(|d| !d.trim().is_empty())
        .map(|d| d.trim().parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| {
            bad(format!(
                "attribute input_shape `{s}` is not a list of sizes"
            ))
        })?;
    if dims.is_empty() || dims.iter().product::<usize>() != n_features {
        return Err(bad(format!(
            "attribute input_shape `{s}` does not hold num_feature = {n_features} values"
        )));
    }
    Ok(dims)
}
