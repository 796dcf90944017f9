"""The paid-request pipeline: plan, admit, hold, call, settle, fail over, stream."""
