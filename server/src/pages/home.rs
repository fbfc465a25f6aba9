//! `/`: open challenges and datasets, with a search by keyword and domain.

use std::collections::{BTreeSet, HashMap};

use axum::extract::{Query, State};
use axum::response::Response;
use chrono::Utc;
use serde::Deserialize;

use super::{OrPage, PageError, chrome, render};
use crate::accounts::Viewer;
use crate::{AppState, ops};

#[derive(Debug, Default, Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
    #[serde(default)]
    domain: String,
}

/// Case-insensitive: every word of the query occurs in one of `texts`.
fn matches(query: &str, texts: &[&str]) -> bool {
    let haystack = texts.join(" ").to_lowercase();
    query
        .split_whitespace()
        .all(|word| haystack.contains(&word.to_lowercase()))
}

/// The first paragraph of a Markdown description, as plain text.
fn summary(description: &str) -> String {
    let first = description.split("\n\n").next().unwrap_or("");
    let text = first.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() > 240 {
        let cut: String = text.chars().take(240).collect();
        format!("{cut}…")
    } else {
        text
    }
}

pub async fn home(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(search): Query<Search>,
) -> Result<Response, PageError> {
    let datasets = crate::api::datasets::list_page(&state, web::Chrome::default())
        .await
        .or_page(&viewer)?
        .datasets;
    let domains: BTreeSet<String> = datasets.iter().map(|d| d.domain.clone()).collect();
    let domain_of: HashMap<String, String> = datasets
        .iter()
        .map(|d| (d.slug.clone(), d.domain.clone()))
        .collect();
    let now = Utc::now();
    let mut challenges = Vec::new();
    for row in db::challenges::list(&state.pool).await.or_page(&viewer)? {
        let challenge = ops::challenges::definition(&row).or_page(&viewer)?;
        let domain = domain_of
            .get(&challenge.dataset.slug)
            .cloned()
            .unwrap_or_default();
        let card = web::ChallengeCard {
            summary: summary(&challenge.description),
            dataset: format!("{} {}", challenge.dataset.slug, challenge.dataset.version),
            target: format!(
                "{} at {:.0} MHz",
                challenge.target.part,
                1000.0 / challenge.target.clock_ns
            ),
            open_phase: challenge.open_phase(now).map(|p| p.name.clone()),
            slug: row.slug,
            title: row.title,
            domain,
        };
        let wanted = matches(
            &search.q,
            &[
                &card.slug,
                &card.title,
                &challenge.description,
                &card.domain,
            ],
        ) && (search.domain.is_empty() || card.domain == search.domain);
        if wanted {
            challenges.push(card);
        }
    }
    // Challenges open for submissions first.
    challenges.sort_by_key(|c| c.open_phase.is_none());
    let datasets = datasets
        .into_iter()
        .filter(|d| {
            matches(&search.q, &[&d.slug, &d.title, &d.description, &d.domain])
                && (search.domain.is_empty() || d.domain == search.domain)
        })
        .collect();
    Ok(render(web::HomePage {
        chrome: chrome(&viewer),
        q: search.q,
        domain: search.domain,
        domains: domains.into_iter().collect(),
        challenges,
        datasets,
    }))
}
