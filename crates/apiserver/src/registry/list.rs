//! The list verb: objects read from etcd a page at a time, filtered, as
//! served. A caller that writes each page out as it comes (the list
//! handler) holds one page of objects, never the whole collection.

use super::{custom, store_err, view, Filter, Registry};
use crate::error::ApiError;
use crate::storage::{decode, Pages};
use api::resources::{ResourceType, Schema};
use api::wire::StoredObject;
use serde_json::Value;

/// A list being read: its revision is known from the first page on.
pub struct ListPages {
    pages: Pages,
    /// What the client asked for (a view is served from its stored row).
    resource: &'static ResourceType,
    filter: Filter,
}

/// An object of a list, as [`ListPages::next_listed`] hands it out.
pub enum Listed<'a> {
    Object(Value),
    /// Its stored text and resourceVersion, when nothing needs it decoded.
    Stored(StoredObject<'a>, i64),
}

impl ListPages {
    /// The store revision the whole list is read at (its `resourceVersion`).
    pub fn revision(&self) -> i64 {
        self.pages.revision()
    }

    /// Whether every page has been handed out.
    pub fn done(&self) -> bool {
        self.pages.done()
    }

    /// Calls `each` on the next page's matching objects; `false` once there
    /// is no page left. The filter sees objects as stored.
    pub async fn next(&mut self, mut each: impl FnMut(Value)) -> Result<bool, ApiError> {
        let Some(page) = self.pages.next().await.map_err(store_err)? else { return Ok(false) };
        let stored = self.resource.stored();
        for kv in page {
            let mut obj = decode(kv.key(), kv.value(), kv.mod_revision()).map_err(store_err)?;
            if self.filter.matches(&obj) {
                custom::as_served(stored, &mut obj);
                each(match self.resource.view_of {
                    Some(_) => view::outgoing(self.resource, obj),
                    None => obj,
                });
            }
        }
        Ok(true)
    }

    /// Whether objects are listed as stored: nothing to select, convert or
    /// serve differently, so they can be written from their stored text.
    fn verbatim(&self) -> bool {
        let plain = self.resource.view_of.is_none() && !matches!(self.resource.schema, Schema::Custom(_));
        // The etcd prefix already holds just the namespace asked for.
        let namespace_by_prefix = self.filter.namespace.is_none() || self.resource.namespaced;
        plain && namespace_by_prefix && self.filter.is_empty()
    }

    /// [`Self::next`], handing out stored text where [`Self::verbatim`]
    /// allows (writing 30,000 pods from it costs a third of decoding them).
    pub async fn next_listed(&mut self, mut each: impl FnMut(Listed<'_>)) -> Result<bool, ApiError> {
        if !self.verbatim() {
            return self.next(|o| each(Listed::Object(o))).await;
        }
        let Some(page) = self.pages.next().await.map_err(store_err)? else { return Ok(false) };
        for kv in &page {
            match StoredObject::parse(kv.value()) {
                Some(stored) => each(Listed::Stored(stored, kv.mod_revision())),
                None => each(Listed::Object(decode(kv.key(), kv.value(), kv.mod_revision()).map_err(store_err)?)),
            }
        }
        Ok(true)
    }
}

impl Registry {
    /// Starts a list: reads its first page.
    pub async fn list_pages(&self, resource: &'static ResourceType, filter: &Filter) -> Result<ListPages, ApiError> {
        let stored = resource.stored();
        let prefix = match filter.fields.pinned_name() {
            // `metadata.name=x` (kubectl get -w NAME, kubectl wait) reads one key.
            Some(name) if filter.namespace.is_some() || !stored.namespaced => {
                Self::key(stored, filter.namespace.as_deref(), name)
            }
            _ => stored.etcd_collection_prefix(filter.namespace.as_deref()),
        };
        let pages = self.store.pages(&prefix, false).await.map_err(store_err)?;
        Ok(ListPages { pages, resource, filter: filter.clone() })
    }

    /// Calls `each` on every matching object; returns the list's revision.
    pub async fn list_each(
        &self,
        resource: &'static ResourceType,
        filter: &Filter,
        mut each: impl FnMut(Value),
    ) -> Result<i64, ApiError> {
        let mut pages = self.list_pages(resource, filter).await?;
        while pages.next(&mut each).await? {}
        Ok(pages.revision())
    }

    /// Every matching object, and the list's revision.
    pub async fn list(&self, resource: &'static ResourceType, filter: &Filter) -> Result<(Vec<Value>, i64), ApiError> {
        let mut items = Vec::new();
        let revision = self.list_each(resource, filter, |o| items.push(o)).await?;
        Ok((items, revision))
    }
}
