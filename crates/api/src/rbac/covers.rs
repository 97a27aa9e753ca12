//! Whether one set of rules covers another, as upstream's
//! `validation.Covers` decides: the check that stops a user from granting,
//! through a Role or a binding, rights they do not hold themselves.

use super::rule::{PolicyRule, ALL};

fn has_all(owner: &[String], wanted: &[String]) -> bool {
    owner.iter().any(|o| o == ALL) || wanted.iter().all(|w| owner.contains(w))
}

fn resources_covered(owner: &[String], wanted: &[String]) -> bool {
    owner.iter().any(|o| o == ALL)
        || wanted.iter().all(|w| {
            owner.contains(w)
                || w.split_once('/').is_some_and(|(_, sub)| owner.iter().any(|o| o.strip_prefix("*/") == Some(sub)))
        })
}

fn urls_covered(owner: &[String], wanted: &[String]) -> bool {
    wanted
        .iter()
        .all(|w| owner.iter().any(|o| o == ALL || o == w || o.strip_suffix('*').is_some_and(|p| w.starts_with(p))))
}

fn rule_covers(owner: &PolicyRule, sub: &PolicyRule) -> bool {
    let names = if sub.resource_names.is_empty() {
        owner.resource_names.is_empty()
    } else {
        owner.resource_names.is_empty() || has_all(&owner.resource_names, &sub.resource_names)
    };
    has_all(&owner.verbs, &sub.verbs)
        && has_all(&owner.api_groups, &sub.api_groups)
        && resources_covered(&owner.resources, &sub.resources)
        && urls_covered(&owner.non_resource_urls, &sub.non_resource_urls)
        && names
}

/// One rule per verb, group, resource and name (or URL): each must be
/// covered by a single owner rule.
fn atoms(rule: &PolicyRule) -> Vec<PolicyRule> {
    let one = |s: &String| vec![s.clone()];
    let mut out = Vec::new();
    for verb in &rule.verbs {
        for url in &rule.non_resource_urls {
            out.push(PolicyRule { verbs: one(verb), non_resource_urls: one(url), ..PolicyRule::default() });
        }
        for group in &rule.api_groups {
            for resource in &rule.resources {
                let base = PolicyRule {
                    verbs: one(verb),
                    api_groups: one(group),
                    resources: one(resource),
                    ..PolicyRule::default()
                };
                if rule.resource_names.is_empty() {
                    out.push(base);
                } else {
                    out.extend(
                        rule.resource_names.iter().map(|n| PolicyRule { resource_names: one(n), ..base.clone() }),
                    );
                }
            }
        }
    }
    out
}

/// The rules of `wanted` that no rule of `owner` covers (empty: covered).
pub fn uncovered(owner: &[PolicyRule], wanted: &[PolicyRule]) -> Vec<PolicyRule> {
    wanted.iter().flat_map(atoms).filter(|atom| !owner.iter().any(|o| rule_covers(o, atom))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_as_upstream() {
        let r = PolicyRule::resources;
        let owner = [r(&["get", "list"], &[""], &["pods", "services"]), r(&["*"], &["apps"], &["*/scale"])];
        for (wanted, ok) in [
            (r(&["get"], &[""], &["pods"]), true),
            (r(&["get", "list"], &[""], &["pods", "services"]), true),
            (r(&["get"], &[""], &["pods"]).named(&["x"]), true),
            (r(&["delete"], &[""], &["pods"]), false),
            (r(&["get"], &[""], &["secrets"]), false),
            (r(&["update"], &["apps"], &["deployments/scale"]), true),
            (r(&["update"], &["apps"], &["deployments"]), false),
            (r(&["get"], &["*"], &["pods"]), false),
            (PolicyRule::urls(&["get"], &["/healthz"]), false),
        ] {
            assert_eq!(uncovered(&owner, std::slice::from_ref(&wanted)).is_empty(), ok, "{wanted:?}");
        }
        let named = [r(&["get"], &[""], &["configmaps"]).named(&["a"])];
        assert!(!uncovered(&named, &[r(&["get"], &[""], &["configmaps"])]).is_empty(), "a name does not cover all");
        let root = [r(&["*"], &["*"], &["*"]), PolicyRule::urls(&["*"], &["*"])];
        assert!(uncovered(&root, &[PolicyRule::urls(&["get"], &["/logs/x"]), r(&["get"], &["x"], &["y"])]).is_empty());
        assert!(uncovered(&[PolicyRule::urls(&["get"], &["/logs/*"])], &[PolicyRule::urls(&["get"], &["/logs/a"])])
            .is_empty());
    }
}
