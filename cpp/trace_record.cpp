// trace_record.cpp — the names of the trace ops. See trace_record.h.
//
// Owns the one spelling of each op, used in every message about a record and by Python
// (trace_op_names) for the names of its counts.
#include "trace_record.h"

namespace allocbench {

const char* trace_op_name(uint8_t op) {
  switch (static_cast<TraceOp>(op)) {
    case TraceOp::alloc: return "alloc";
    case TraceOp::calloc: return "calloc";
    case TraceOp::realloc: return "realloc";
    case TraceOp::free: return "free";
    case TraceOp::foreign_free: return "foreign_free";
    case TraceOp::foreign_realloc: return "foreign_realloc";
  }
  return nullptr;
}

}  // namespace allocbench
