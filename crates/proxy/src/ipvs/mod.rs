//! The IPVS mode's kernel side: [`netlink`] and [`messages`] are pure
//! (messages as values, golden-byte tests); [`kernel`] opens the socket;
//! [`rtnetlink`] makes the dummy interface and its addresses;
//! [`syncer`] keeps the kernel's table equal to the desired one, touching
//! only what changed.

pub mod kernel;
pub mod messages;
pub mod netlink;
pub mod rtnetlink;
pub mod syncer;
