//! What `usersctl` does beyond a single store call, as a library its tests drive directly.

pub mod rotation;
