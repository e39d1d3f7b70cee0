-- Argo CD health check for modelarts.operator.dev/ModelArtsPool.
--
-- Register it in argocd-cm under resource.customizations.health.modelarts.operator.dev_ModelArtsPool (see the
-- README, "Argo CD"). Tested by tests/unit/test_argocd_health.py on recorded objects of every state.
--
--   Healthy      Ready=True, the spec is synced and the operator has seen the current generation
--   Progressing  no status yet, creating, scaling, updating, retrying a transient error, or deleting (with the
--                nodes left and when the deletion was requested)
--   Degraded     a terminal Synced=False (the spec or the request is wrong: a human has to change something),
--                an adopted pool that does not exist, the pool itself Abnormal or in Error, or a deletion that
--                stalled (DeletionStalled)
--
-- Argo CD runs this in a sandbox without os.time(), so "elapsed" is given as the request time and the number of
-- DELETE attempts rather than a computed duration.

local hs = {}

-- Synced=False reasons that no retry will fix.
local terminal_sync_reasons = {
  InvalidSpec = true,
  InvalidRequest = true,
  AdoptionConflict = true,
  DisplayNameTaken = true,
}

-- Ready=False reasons that say the pool itself is broken in the cloud.
local broken_ready_reasons = {
  Abnormal = true,
  Error = true,
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

local function count(value)
  if value == nil then
    return 0
  end
  return value
end

local function describe(condition)
  local text = condition.reason or condition.type
  if condition.message ~= nil and condition.message ~= "" then
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
  return string.format("%d available, %d creating, %d deleting, %d abnormal",
    count(nodes.available), count(nodes.creating), count(nodes.deleting), count(nodes.abnormal))
end

local function deletion_progress(status, deleting, headline)
  local parts = {}
  local nodes = status and status.nodes or nil
  if nodes ~= nil then
    local left = count(nodes.deleting) + count(nodes.available) + count(nodes.creating) + count(nodes.abnormal)
    table.insert(parts, string.format("%d node(s) left (%d deleting)", left, count(nodes.deleting)))
  end
  local deletion = status and status.deletion or nil
  if deletion ~= nil then
    if deletion.requestedAt ~= nil then
      table.insert(parts, "requested at " .. deletion.requestedAt)
    end
    if deletion.attempts ~= nil and deletion.attempts > 0 then
      table.insert(parts, string.format("%d DELETE attempt(s)", deletion.attempts))
    end
    if deletion.lastCheckedAt ~= nil then
      table.insert(parts, "last checked at " .. deletion.lastCheckedAt)
    end
  end
  local text = headline .. " " .. pool_label(status)
  if #parts > 0 then
    text = text .. ": " .. table.concat(parts, ", ")
  end
  if deleting ~= nil and deleting.message ~= nil and deleting.message ~= "" then
    text = text .. " (" .. deleting.message .. ")"
  end
  return text
end

local status = obj.status
local ready = find_condition(status, "Ready")
local synced = find_condition(status, "Synced")
local deleting = find_condition(status, "Deleting")
local being_deleted = obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil

-- Deletion first: it overrides everything else the object says.
if deleting ~= nil and deleting.status == "True" and deleting.reason == "DeletionStalled" then
  hs.status = "Degraded"
  local text = deletion_progress(status, deleting, "Deletion stalled for")
  local deletion = status and status.deletion or nil
  if deletion ~= nil and deletion.lastError ~= nil and deletion.lastError ~= "" and
      (deleting.message == nil or string.find(deleting.message, deletion.lastError, 1, true) == nil) then
    text = text .. "; last error: " .. deletion.lastError
  end
  hs.message = text .. ". To keep the cloud pool and release the object, set spec.deletionPolicy to Retain."
  return hs
end
if (deleting ~= nil and deleting.status == "True") or being_deleted then
  hs.status = "Progressing"
  if deleting == nil or deleting.status ~= "True" then
    hs.message = "Deletion requested; waiting for the operator to delete " .. pool_label(status)
  else
    hs.message = deletion_progress(status, deleting, "Deleting")
  end
  return hs
end

if status == nil or (ready == nil and synced == nil) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report the pool's status"
  return hs
end

if synced ~= nil and synced.status == "False" and terminal_sync_reasons[synced.reason] then
  hs.status = "Degraded"
  hs.message = describe(synced)
  return hs
end

-- An adopted pool (spec.poolName) that ModelArts does not have: the operator never creates one in its place,
-- so only a human can fix it. (A pool this object created and someone deleted is simply created again.)
if synced ~= nil and synced.status == "False" and synced.reason == "PoolNotFound" and
    obj.spec ~= nil and obj.spec.poolName ~= nil then
  hs.status = "Degraded"
  hs.message = describe(synced) .. " (spec.poolName " .. obj.spec.poolName .. " names no existing pool)"
  return hs
end

if ready ~= nil and ready.status == "False" and broken_ready_reasons[ready.reason] then
  hs.status = "Degraded"
  hs.message = describe(ready) .. " (" .. node_summary(status.nodes) .. ")"
  return hs
end

local generation = obj.metadata and obj.metadata.generation or nil
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = string.format("Waiting for the operator to reconcile generation %d (observed %d)",
    generation, status.observedGeneration)
  return hs
end

if ready ~= nil and ready.status == "True" then
  if synced ~= nil and synced.status ~= "True" then
    -- The pool works, but the spec is not (yet) applied: an update, drift being corrected, or a retried error.
    hs.status = "Progressing"
    hs.message = "Ready, not synced: " .. describe(synced)
    return hs
  end
  hs.status = "Healthy"
  hs.message = "Pool " .. (status.poolName or "") .. " ready: " .. node_summary(status.nodes)
  return hs
end

hs.status = "Progressing"
local why = ready ~= nil and describe(ready) or describe(synced)
if synced ~= nil and synced.status == "False" and (ready == nil or synced.reason ~= ready.reason) then
  why = why .. "; " .. describe(synced)
end
-- The operator's message often counts the nodes already; do not say it twice.
if string.find(why, " available", 1, true) == nil then
  why = why .. " (" .. node_summary(status.nodes) .. ")"
end
hs.message = why
return hs
