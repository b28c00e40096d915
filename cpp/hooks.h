// hooks.h — allocators installed into the running interpreter's MEM and OBJ domains.
//
// Owns the one way allocbench puts code between CPython and its allocator: the record mode
// (recorder.h) wraps the domains to record every call; the live mode puts a pymalloc variant
// there. Both save each domain's previous allocator (PyMem_GetAllocator) and install theirs
// (PyMem_SetAllocator); each hook function receives its DomainHook as ctx, so it can call the
// allocator that was there before (for a recording hook: every call; for a variant: the
// requests it does not serve and the blocks it does not own, whose LowerAllocator is
// lower_allocator_of()).
//
// Contracts CPython sets (the C API's "Memory Management" page): MEM and OBJ are called with
// the GIL held, so a hook's state needs no lock; a request of 0 bytes returns a distinct
// non-NULL pointer; after initialisation only a hook that wraps the previous allocator is
// allowed, so a block allocated before the install must still go back to the previous one.
//
// Invariants: installed() is true if and only if ours were set on both domains and not taken
// off; uninstall() restores the previous allocators only while ours are still on top (a hook
// installed over ours would otherwise call freed code): else ours stay in the chain and the
// owner must keep them passing calls through.
#pragma once

#include <Python.h>

#include "lower_allocator.h"

namespace allocbench {

struct DomainHook {
  PyMemAllocatorDomain domain;
  PyMemAllocatorEx previous{};
};

// The four functions of a hook; each is called with its DomainHook* as ctx.
struct HookFunctions {
  void* (*malloc)(void* ctx, size_t size);
  void* (*calloc)(void* ctx, size_t count, size_t size);
  void* (*realloc)(void* ctx, void* block, size_t size);
  void (*free)(void* ctx, void* block);
};

class DomainHooks {
 public:
  DomainHook mem{PYMEM_DOMAIN_MEM};
  DomainHook obj{PYMEM_DOMAIN_OBJ};

  // Saves both domains' allocators and sets ours. No-op when already installed.
  void install(const HookFunctions& functions);
  // Restores the saved allocators if ours are still on top of both domains; returns whether
  // it did (false: ours stay installed).
  bool uninstall();
  bool installed() const { return installed_; }

 private:
  bool on_top(const DomainHook& hook) const;
  HookFunctions functions_{};
  bool installed_ = false;
};

// The previous allocator of a domain, as the lower allocator of a variant installed over it.
LowerAllocator lower_allocator_of(const DomainHook& hook);

// Runs `child` in the child process after every fork() of this process (pthread_atfork);
// returns false when it could not be registered. Each function is registered once.
bool run_in_forked_child(void (*child)());

}  // namespace allocbench
