// hooks.cpp — see hooks.h.
#include "hooks.h"

#include <pthread.h>

#include <mutex>
#include <set>

namespace allocbench {

void DomainHooks::install(const HookFunctions& functions) {
  if (installed_) return;
  functions_ = functions;
  for (DomainHook* hook : {&mem, &obj}) {
    PyMem_GetAllocator(hook->domain, &hook->previous);
    PyMemAllocatorEx ours{hook, functions.malloc, functions.calloc, functions.realloc, functions.free};
    PyMem_SetAllocator(hook->domain, &ours);
  }
  installed_ = true;
}

bool DomainHooks::on_top(const DomainHook& hook) const {
  PyMemAllocatorEx current;
  PyMem_GetAllocator(hook.domain, &current);
  return current.malloc == functions_.malloc && current.ctx == &hook;
}

bool DomainHooks::uninstall() {
  if (!installed_) return true;
  if (!on_top(mem) || !on_top(obj)) return false;
  for (DomainHook* hook : {&mem, &obj}) PyMem_SetAllocator(hook->domain, &hook->previous);
  installed_ = false;
  return true;
}

LowerAllocator lower_allocator_of(const DomainHook& hook) {
  const PyMemAllocatorEx& p = hook.previous;
  return LowerAllocator{p.ctx, p.malloc, p.calloc, p.realloc, p.free};
}

bool run_in_forked_child(void (*child)()) {
  // Called with the GIL held, from one thread at a time; the mutex is for clarity only.
  static std::mutex mutex;
  static std::set<void (*)()>* registered = new std::set<void (*)()>;  // never destroyed: forks happen late
  std::lock_guard<std::mutex> lock(mutex);
  if (registered->count(child)) return true;
  if (pthread_atfork(nullptr, nullptr, child) != 0) return false;
  registered->insert(child);
  return true;
}

}  // namespace allocbench
