//! The allocator's rules as tables, and a property test: any sequence of
//! creates, deletes, type changes and reconciles (each possibly cut short,
//! as a crash or restart would) never shares an address, never moves one
//! in use, and once converged never leaks one.

use super::desired::*;
use super::pool::Pool;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn claim(name: &str, order: i64, role: Role, request: Request, held: &[&str]) -> Claim {
    Claim {
        key: ("default".into(), name.into()),
        role,
        request,
        held: held.iter().map(|h| h.parse().unwrap()).collect(),
        order,
    }
}

fn pool() -> Pool {
    "10.0.0.1-10.0.0.3".parse().unwrap()
}

fn outcome_of(claims: &[Claim], name: &str) -> Outcome {
    allocate(&pool(), claims)[&("default".to_string(), name.to_string())].clone()
}

#[test]
fn allocation_rules() {
    use Request::*;
    use Role::*;
    let addr = |s: &str, new| Outcome::Address { ip: ip(s), new };
    let failed = |name: &str, why: &str| Outcome::Pending {
        reason: ALLOCATION_FAILED,
        message: format!("Failed to allocate IP for \"default/{name}\": {why}"),
    };
    let cases: Vec<(&str, Vec<Claim>, &str, Outcome)> = vec![
        ("the lowest free address", vec![claim("a", 1, Ours, Any, &[])], "a", addr("10.0.0.1", true)),
        (
            "a held address is kept, even above a free one",
            vec![claim("a", 1, Ours, Any, &["10.0.0.3"])],
            "a",
            addr("10.0.0.3", false),
        ),
        (
            "the older of two holders keeps it; the younger moves",
            vec![claim("b", 2, Ours, Any, &["10.0.0.1"]), claim("a", 1, Ours, Any, &["10.0.0.1"])],
            "b",
            addr("10.0.0.2", true),
        ),
        (
            "a held address outside the pool is replaced",
            vec![claim("a", 1, Ours, Any, &["192.168.0.1"])],
            "a",
            addr("10.0.0.1", true),
        ),
        ("a request is honoured", vec![claim("a", 1, Ours, Ip(ip("10.0.0.2")), &[])], "a", addr("10.0.0.2", true)),
        (
            "a changed request moves the address",
            vec![claim("a", 1, Ours, Ip(ip("10.0.0.2")), &["10.0.0.1"])],
            "a",
            addr("10.0.0.2", true),
        ),
        (
            "a request outside the pool",
            vec![claim("a", 1, Ours, Ip(ip("10.9.9.9")), &[])],
            "a",
            failed("a", "\"10.9.9.9\" is not allowed in config"),
        ),
        (
            "a request for a held address",
            vec![claim("a", 1, Ours, Any, &["10.0.0.2"]), claim("b", 2, Ours, Ip(ip("10.0.0.2")), &[])],
            "b",
            failed("b", "\"10.0.0.2\" is already in use by default/a"),
        ),
        (
            "another class's address is taken too",
            vec![claim("x", 1, OtherClass, Any, &["10.0.0.1"]), claim("a", 2, Ours, Any, &[])],
            "a",
            addr("10.0.0.2", true),
        ),
        (
            "another class's Service is left alone",
            vec![claim("x", 1, OtherClass, Any, &["10.0.0.1"])],
            "x",
            Outcome::Untouched,
        ),
        ("a type change releases", vec![claim("a", 1, NotLoadBalancer, Any, &["10.0.0.1"])], "a", Outcome::Release),
        (
            "an address being released is not handed out in the same pass",
            vec![
                claim("a", 1, NotLoadBalancer, Any, &["10.0.0.1"]),
                claim("b", 2, Ours, Any, &["10.0.0.2"]),
                claim("c", 3, Ours, Any, &["10.0.0.3"]),
                claim("d", 4, Ours, Any, &[]),
            ],
            "d",
            failed("d", "no available IPs"),
        ),
        (
            "a full pool, oldest first",
            vec![
                claim("a", 1, Ours, Any, &[]),
                claim("b", 2, Ours, Any, &[]),
                claim("c", 3, Ours, Any, &[]),
                claim("d", 0, Ours, Any, &[]),
            ],
            "c",
            failed("c", "no available IPs"),
        ),
        (
            "an address requested by an older Service is not free",
            vec![claim("a", 1, Ours, Ip(ip("10.0.0.1")), &[]), claim("b", 2, Ours, Any, &[])],
            "b",
            addr("10.0.0.2", true),
        ),
        (
            "a malformed request",
            vec![claim("a", 1, Ours, Invalid("invalid spec.loadBalancerIP \"nope\"".into()), &["10.0.0.1"])],
            "a",
            Outcome::Pending {
                reason: INVALID_REQUEST,
                message: "invalid requested loadbalancer IPs: invalid spec.loadBalancerIP \"nope\"".into(),
            },
        ),
    ];
    for (what, claims, name, want) in cases {
        assert_eq!(outcome_of(&claims, name), want, "{what}");
    }
}

#[test]
fn requests_from_the_spec_and_the_annotation() {
    use k8s_openapi::api::core::v1::Service;
    let svc = |spec: serde_json::Value, annotations: serde_json::Value| -> Service {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "default", "annotations": annotations},
            "spec": spec,
        }))
        .unwrap()
    };
    let lb = serde_json::json!({"type": "LoadBalancer"});
    let with_ip = |v: &str| serde_json::json!({"type": "LoadBalancer", "loadBalancerIP": v});
    let ann = |v: &str| serde_json::json!({"metallb.io/loadBalancerIPs": v});
    let cases = [
        (svc(lb.clone(), serde_json::json!({})), Request::Any),
        (svc(with_ip("10.0.0.2"), serde_json::json!({})), Request::Ip(ip("10.0.0.2"))),
        (svc(lb.clone(), ann("10.0.0.3")), Request::Ip(ip("10.0.0.3"))),
        (svc(with_ip("nope"), serde_json::json!({})), Request::Invalid("invalid spec.loadBalancerIP \"nope\"".into())),
        (
            svc(lb.clone(), ann("10.0.0.1,x")),
            Request::Invalid("invalid metallb.io/loadBalancerIPs \"10.0.0.1,x\"".into()),
        ),
        (
            svc(lb.clone(), ann("fd00::1")),
            Request::Invalid(
                "requested loadBalancer IP(s) \"fd00::1\" does not match the ipFamily of the service".into(),
            ),
        ),
        (
            svc(with_ip("10.0.0.2"), ann("10.0.0.3")),
            Request::Invalid("service can not have both metallb.io/loadBalancerIPs and svc.Spec.LoadBalancerIP".into()),
        ),
    ];
    for (s, want) in cases {
        assert_eq!(claim_of(&s).request, want, "{:?}", s.metadata.annotations);
    }
    let role = |spec: serde_json::Value| claim_of(&svc(spec, serde_json::json!({}))).role;
    assert_eq!(role(lb), Role::Ours);
    assert_eq!(
        role(serde_json::json!({"type": "LoadBalancer", "loadBalancerClass": "mini-k8s.io/service-lb"})),
        Role::Ours
    );
    assert_eq!(
        role(serde_json::json!({"type": "LoadBalancer", "loadBalancerClass": "example.com/other"})),
        Role::OtherClass
    );
    assert_eq!(role(serde_json::json!({"type": "NodePort"})), Role::NotLoadBalancer);
}

/// The model: Services by id, with what their status shows.
#[derive(Clone, Debug)]
struct Svc {
    lb: bool,
    other_class: bool,
    request: Request,
    held: Vec<IpAddr>,
    order: i64,
}

#[derive(Clone, Debug)]
enum Op {
    Create {
        id: u8,
        other_class: bool,
        request: u8,
    },
    Delete(u8),
    SetType {
        id: u8,
        lb: bool,
    },
    /// One reconcile whose writes land only for the Services in the mask
    /// (the rest are lost, as when the controller restarts mid-pass).
    Reconcile(u16),
}

fn request_from(n: u8) -> Request {
    match n {
        0..=5 => Request::Any,
        // 10.0.0.1..=10.0.0.6: the pool is .1-.4, so some are outside.
        6..=11 => Request::Ip(Ipv4Addr::new(10, 0, 0, n - 5)),
        _ => Request::Invalid("invalid spec.loadBalancerIP \"x\"".into()),
    }
}

fn claims(model: &BTreeMap<u8, Svc>) -> Vec<Claim> {
    model
        .iter()
        .map(|(id, s)| Claim {
            key: ("default".into(), format!("s{id}")),
            role: match (s.lb, s.other_class) {
                (false, _) => Role::NotLoadBalancer,
                (true, true) => Role::OtherClass,
                (true, false) => Role::Ours,
            },
            request: s.request.clone(),
            held: s.held.clone(),
            order: s.order,
        })
        .collect()
}

/// Applies one pass; checks that nothing moved that was validly held.
fn reconcile(pool: &Pool, model: &mut BTreeMap<u8, Svc>, mask: u16) {
    let outcomes = allocate(pool, &claims(model));
    for (id, s) in model.iter_mut() {
        let outcome = &outcomes[&("default".to_string(), format!("s{id}"))];
        if let (Outcome::Address { ip, new: true }, [IpAddr::V4(old)]) = (outcome, s.held.as_slice()) {
            let asked_elsewhere = matches!(s.request, Request::Ip(want) if want != *old);
            assert!(asked_elsewhere || !pool.contains(*old), "s{id} moved from {old} to {ip} without asking");
        }
        if mask & (1 << id) == 0 {
            continue;
        }
        match outcome {
            Outcome::Address { ip, .. } => s.held = vec![IpAddr::V4(*ip)],
            Outcome::Pending { .. } | Outcome::Release => s.held.clear(),
            Outcome::Untouched => {}
        }
    }
    let mut seen = BTreeMap::new();
    for (id, s) in model.iter() {
        for ip in &s.held {
            if let Some(other) = seen.insert(*ip, *id) {
                panic!("{ip} shared by s{other} and s{id}");
            }
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..10u8, proptest::bool::weighted(0.15), 0..14u8)
            .prop_map(|(id, other_class, request)| Op::Create { id, other_class, request }),
        1 => (0..10u8).prop_map(Op::Delete),
        1 => (0..10u8, any::<bool>()).prop_map(|(id, lb)| Op::SetType { id, lb }),
        3 => any::<u16>().prop_map(Op::Reconcile),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]
    #[test]
    fn never_shares_never_moves_never_leaks(ops in proptest::collection::vec(op(), 1..60)) {
        let pool: Pool = "10.0.0.1-10.0.0.4".parse().unwrap();
        let mut model: BTreeMap<u8, Svc> = BTreeMap::new();
        for (t, op) in ops.into_iter().enumerate() {
            match op {
                Op::Create { id, other_class, request } => {
                    model.entry(id).or_insert(Svc {
                        lb: true,
                        other_class,
                        request: request_from(request),
                        held: Vec::new(),
                        order: t as i64,
                    });
                }
                Op::Delete(id) => {
                    model.remove(&id);
                }
                Op::SetType { id, lb } => {
                    if let Some(s) = model.get_mut(&id) {
                        s.lb = lb;
                    }
                }
                Op::Reconcile(mask) => reconcile(&pool, &mut model, mask),
            }
        }
        // Converge: every write lands. Two passes suffice (a release, then
        // the address it frees); a third must change nothing.
        for _ in 0..3 {
            reconcile(&pool, &mut model, u16::MAX);
        }
        let outcomes = allocate(&pool, &claims(&model));
        let held: Vec<Ipv4Addr> = model
            .values()
            .flat_map(|s| s.held.iter())
            .map(|ip| match ip { IpAddr::V4(v4) => *v4, IpAddr::V6(_) => unreachable!() })
            .collect();
        for (id, s) in &model {
            let key = ("default".to_string(), format!("s{id}"));
            match &outcomes[&key] {
                Outcome::Address { ip, new } => {
                    prop_assert!(!new, "s{} not converged", id);
                    prop_assert_eq!(&s.held, &vec![IpAddr::V4(*ip)]);
                }
                Outcome::Release => prop_assert!(s.held.is_empty() && !s.lb),
                Outcome::Untouched => prop_assert!(s.other_class),
                Outcome::Pending { message, .. } => {
                    prop_assert!(s.held.is_empty());
                    // Never leaks: "no available IPs" only when every address is held.
                    if message.ends_with("no available IPs") {
                        prop_assert_eq!(held.len(), pool.len(), "a free address while s{} waits", id);
                    }
                }
            }
        }
        // Every held address belongs to a Service that is ours.
        for s in model.values() {
            prop_assert!(s.held.is_empty() || (s.lb && !s.other_class));
        }
    }
}
