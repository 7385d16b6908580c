//! Instances between calls (see "Instances" in the module docs of
//! `plugin`): a plugin that reuses its instance keeps it here after a call
//! that returned, and takes it for the next; every other call gets a fresh
//! instance. The place and pool slot a kept instance holds are counted so that
//! at most [`MAX_WARM`] are kept and the rest of the pool stays free.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use wasmtime::Store;
use wasmtime::component::Instance;

use super::state::PluginState;
use super::{CHECK_EVERY_TICKS, Plugin, PluginError, PluginRuntime};
use crate::transport::FollowRedirects;

/// Instances kept between calls (see the module docs) at most, in one
/// runtime: each holds a pool slot, so the rest stay free for calls.
pub const MAX_WARM: usize = 8;

/// An instance whose memory grew past this is not kept for another call: a
/// call with a huge answer should not leave every later call a big,
/// fragmented heap.
pub const WARM_MAX_MEMORY: usize = 8 << 20;

impl PluginRuntime {
    /// A place among the [`MAX_WARM`] kept instances, if one is free.
    fn warm_ticket(&self) -> Option<WarmTicket> {
        self.warm
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_WARM).then_some(n + 1)
            })
            .ok()
            .map(|_| WarmTicket(self.warm.clone()))
    }
}

/// One of the [`MAX_WARM`] places for a kept instance; given back on drop.
pub(super) struct WarmTicket(Arc<AtomicUsize>);

impl Drop for WarmTicket {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An instance kept for the plugin's next call, with its store and pool slot.
pub(super) struct Warm {
    store: Store<PluginState>,
    instance: Instance,
    _slot: Option<tokio::sync::OwnedSemaphorePermit>,
    _ticket: WarmTicket,
}

/// The instance a call runs in: kept from an earlier call, or new.
pub(super) struct CallInstance {
    pub store: Store<PluginState>,
    pub instance: Instance,
    pub slot: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Set when the instance was kept from an earlier call.
    pub ticket: Option<WarmTicket>,
}

impl Plugin {
    /// The instance for the next call: the kept one, or a new one.
    pub(super) async fn instance(
        &self,
        follow: Option<FollowRedirects>,
    ) -> Result<CallInstance, PluginError> {
        let kept = self
            .warm
            .as_ref()
            .and_then(|cell| cell.lock().unwrap_or_else(|p| p.into_inner()).take());
        if let Some(Warm {
            mut store,
            instance,
            _slot: slot,
            _ticket: ticket,
        }) = kept
        {
            store.data_mut().begin_call(follow);
            store.set_epoch_deadline(CHECK_EVERY_TICKS);
            return Ok(CallInstance {
                store,
                instance,
                slot,
                ticket: Some(ticket),
            });
        }
        let slot = self.runtime.slot().await;
        let mut store = self.runtime.new_store(self.services.clone(), follow);
        self.runtime.instantiations.fetch_add(1, Ordering::Relaxed);
        match self.component.exports.instantiate(&mut store).await {
            Ok(instance) => Ok(CallInstance {
                store,
                instance,
                slot,
                ticket: None,
            }),
            Err(e) => Err(self.runtime.classify(&self.name, &store, e)),
        }
    }

    /// After a call that returned (with a value or the plugin's own error):
    /// keep its instance for the next call when this plugin reuses
    /// instances, its memory stayed small, and a place is free; otherwise
    /// it is dropped here.
    pub(super) fn keep(
        &self,
        store: Store<PluginState>,
        instance: Instance,
        slot: Option<tokio::sync::OwnedSemaphorePermit>,
        ticket: Option<WarmTicket>,
    ) {
        let Some(cell) = &self.warm else { return };
        let limiter = &store.data().limiter;
        if limiter.exceeded || limiter.peak_bytes > WARM_MAX_MEMORY {
            return;
        }
        let Some(ticket) = ticket.or_else(|| self.runtime.warm_ticket()) else {
            return;
        };
        let mut cell = cell.lock().unwrap_or_else(|p| p.into_inner());
        // Another call of this plugin may have put its instance back first.
        if cell.is_none() {
            *cell = Some(Warm {
                store,
                instance,
                _slot: slot,
                _ticket: ticket,
            });
        }
    }
}
