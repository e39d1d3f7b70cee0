-- Argo CD health check for modelarts.operator.dev/ModelArtsPool.
--
-- Register it in argocd-cm under resource.customizations.health.modelarts.operator.dev_ModelArtsPool (see
-- docs/argocd.md). Tested by tests/unit/test_argocd_health.py with Argo CD's own engine
-- (tools/argocd-health) on recorded objects of every state.
--
--   Healthy      Ready=True, the spec is synced (or the pool is only observed) and the current generation seen
--   Progressing  no status yet, creating, scaling, updating, a phase the operator does not know, retrying a
--                transient error, or deleting (with the nodes left and when the deletion was requested)
--   Degraded     a terminal Synced=False (the spec, the request or the binding is wrong: a human has to change
--                something), an adopted pool that does not exist, the pool Abnormal, in Error or failed to be
--                created, or a deletion that stalled (DeletionStalled)
--
-- Argo CD runs custom checks without Lua's standard libraries (no string, math, os or io unless
-- resource.customizations.useOpenLibs is set), so this script uses only the base and table functions: numbers
-- become text with tostring, and text is compared whole, never searched. Its sandbox has no clock either, so
-- "elapsed" is given as the request time and the number of DELETE attempts rather than a computed duration.
--
-- For an object being deleted (metadata.deletionTimestamp), Argo CD 3.6 shows hs.deletionMessage instead of
-- hs.message, with hs.status; without deletionMessage it would show "Pending deletion" as Progressing, whatever
-- the script said. Argo CD before 3.6 does not run the script for such objects at all.

-- Synced=False reasons that no retry will fix.
local terminal_sync_reasons = {
  InvalidSpec = true,
  InvalidRequest = true,
  AdoptionConflict = true,
  AdoptionForbidden = true,
  DisplayNameTaken = true,
  CreationFailed = true,
  NotBound = true,
  ProjectNotFound = true,
}

-- Ready=False reasons that say the pool itself is broken in the cloud.
local broken_ready_reasons = {
  Abnormal = true,
  Error = true,
  CreationFailed = true,
}

local function find_condition(status, ctype)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, condition in ipairs(status.conditions) do
    if condition.type == ctype then
      return condition
    end
  end
  return nil
end

local function is_true(condition)
  return condition ~= nil and condition.status == "True"
end

local function is_false(condition)
  return condition ~= nil and condition.status == "False"
end

local function has_text(value)
  return value ~= nil and value ~= ""
end

local function count_text(value)
  if value == nil then
    return "0"
  end
  return tostring(value)
end

local function describe(condition)
  local text = condition.reason or condition.type
  if has_text(condition.message) then
    text = text .. ": " .. condition.message
  end
  return text
end

local function pool_label(status)
  if status ~= nil and status.poolName ~= nil then
    return "pool " .. status.poolName
  end
  return "pool"
end

local function node_summary(nodes)
  if nodes == nil then
    return "no nodes reported yet"
  end
  return count_text(nodes.available) .. " available, " .. count_text(nodes.creating) .. " creating, " ..
    count_text(nodes.deleting) .. " deleting, " .. count_text(nodes.abnormal) .. " abnormal"
end

local function nodes_left(nodes)
  local left = 0
  for _, state in ipairs({"available", "creating", "deleting", "abnormal"}) do
    if nodes[state] ~= nil then
      left = left + nodes[state]
    end
  end
  return left
end

local function deletion_progress(status, deleting, headline)
  local parts = {}
  local nodes = status and status.nodes or nil
  if nodes ~= nil then
    table.insert(parts, tostring(nodes_left(nodes)) .. " node(s) left (" .. count_text(nodes.deleting) .. " deleting)")
  end
  local deletion = status and status.deletion or nil
  if deletion ~= nil then
    if deletion.requestedAt ~= nil then
      table.insert(parts, "requested at " .. deletion.requestedAt)
    end
    if deletion.attempts ~= nil and deletion.attempts > 0 then
      table.insert(parts, tostring(deletion.attempts) .. " DELETE attempt(s)")
    end
    if deletion.lastCheckedAt ~= nil then
      table.insert(parts, "last checked at " .. deletion.lastCheckedAt)
    end
  end
  local text = headline .. " " .. pool_label(status)
  if #parts > 0 then
    text = text .. ": " .. table.concat(parts, ", ")
  end
  if deleting ~= nil and has_text(deleting.message) then
    text = text .. " (" .. deleting.message .. ")"
  end
  return text
end

-- The verdict on an object being deleted (a deletionTimestamp, or the operator's Deleting condition).
local function deletion_health(obj, status, deleting)
  if is_true(deleting) and deleting.reason == "DeletionStalled" then
    local text = deletion_progress(status, deleting, "Deletion stalled for")
    local deletion = status and status.deletion or nil
    -- The operator puts ModelArts' refusal in the condition message and in lastError; say it once.
    if deletion ~= nil and has_text(deletion.lastError) and deletion.lastError ~= deleting.message then
      text = text .. "; last error: " .. deletion.lastError
    end
    return "Degraded", text .. ". To keep the cloud pool and release the object, set spec.deletionPolicy to Retain."
  end
  if is_true(deleting) then
    return "Progressing", deletion_progress(status, deleting, "Deleting")
  end
  if obj.spec ~= nil and obj.spec.deletionPolicy == "Retain" then
    return "Progressing", "Deletion requested; waiting for the operator to release the object (deletionPolicy " ..
      "Retain keeps " .. pool_label(status) .. " in ModelArts)"
  end
  return "Progressing", "Deletion requested; waiting for the operator to delete " .. pool_label(status)
end

local function live_health(obj, status, ready, synced)
  if status == nil or (ready == nil and synced == nil) then
    return "Progressing", "Waiting for the operator to report the pool's status"
  end

  if is_false(synced) and terminal_sync_reasons[synced.reason] then
    return "Degraded", describe(synced)
  end

  -- An adopted pool (spec.poolName) that ModelArts does not have: the operator never creates one in its place,
  -- so only a human can fix it. (A pool this object created and someone deleted is simply created again.)
  if is_false(synced) and synced.reason == "PoolNotFound" and obj.spec ~= nil and obj.spec.poolName ~= nil then
    return "Degraded", describe(synced) .. " (spec.poolName " .. obj.spec.poolName .. " names no existing pool)"
  end

  if is_false(ready) and broken_ready_reasons[ready.reason] then
    return "Degraded", describe(ready) .. " (" .. node_summary(status.nodes) .. ")"
  end

  local generation = obj.metadata and obj.metadata.generation or nil
  if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
    return "Progressing", "Waiting for the operator to reconcile generation " .. tostring(generation) ..
      " (observed " .. tostring(status.observedGeneration) .. ")"
  end

  if is_true(ready) then
    if synced ~= nil and synced.status ~= "True" then
      -- The pool works, but the spec is not (yet) applied: an update, drift being corrected, or a retried error.
      return "Progressing", "Ready, not synced: " .. describe(synced)
    end
    local text = "Pool " .. (status.poolName or "") .. " ready: " .. node_summary(status.nodes)
    if synced ~= nil and synced.reason == "ObserveOnly" then
      text = text .. " (adopted and only observed: the operator does not change it)"
    end
    return "Healthy", text
  end

  -- Not ready yet, or a retried error (Creating, Scaling, Pending, UnknownPhase, PoolGone, Throttled, ...).
  local why = ready ~= nil and describe(ready) or describe(synced)
  if is_false(synced) and (ready == nil or synced.reason ~= ready.reason) then
    why = why .. "; " .. describe(synced)
  end
  -- The operator's Scaling message counts the nodes already; do not say it twice.
  if ready == nil or ready.reason ~= "Scaling" or not has_text(ready.message) then
    why = why .. " (" .. node_summary(status.nodes) .. ")"
  end
  return "Progressing", why
end

local status = obj.status
local deleting = find_condition(status, "Deleting")
local being_deleted = obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil

local hs = {}
if being_deleted or is_true(deleting) then
  hs.status, hs.message = deletion_health(obj, status, deleting)
else
  hs.status, hs.message = live_health(obj, status, find_condition(status, "Ready"), find_condition(status, "Synced"))
end
if being_deleted then
  -- Argo CD 3.6+: keep this verdict for an object being deleted instead of "Pending deletion" (Progressing).
  hs.deletionMessage = hs.message
end
return hs
