//! The `sixfold` launcher (`sixfold up`) and the deployment files under
//! `deploy/`. Reserved in the workspace layout of `DESIGN.md` §1; the
//! launcher is built by the local-cluster issue.
