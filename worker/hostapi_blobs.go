package worker

import (
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/picloud/picloud/protocol/wire"
)

// openBlobs registers the blobs module. Which buckets a function may use
// is decided by the host (its own, named after the function, and those
// granted at deploy), never here.
func openBlobs(L *lua.LState, st *luaState) {
	m := L.NewTable()
	m.RawSetString("get", L.NewFunction(func(L *lua.LState) int {
		bucket, key := checkBlobName(L)
		data, meta, found, err := st.host().BlobGet(st.call.ctx, st.call.function, bucket, key)
		st.hostErr(L, "blobs.get", err)
		if !found {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LString(data))
		L.Push(blobMetaTable(L, meta))
		return 2
	}))
	m.RawSetString("head", L.NewFunction(func(L *lua.LState) int {
		bucket, key := checkBlobName(L)
		meta, found, err := st.host().BlobHead(st.call.ctx, st.call.function, bucket, key)
		st.hostErr(L, "blobs.head", err)
		if !found {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(blobMetaTable(L, meta))
		return 1
	}))
	m.RawSetString("put", L.NewFunction(func(L *lua.LState) int {
		bucket, key := checkBlobName(L)
		data := L.CheckString(3)
		if len(data) > wire.MaxLuaBlobBytes {
			L.RaiseError("blobs.put: %d bytes is over the limit of %d for Lua: upload bigger blobs with the HTTP API (PUT /api/v1/blobs/%s/KEY, picloud blob put)",
				len(data), wire.MaxLuaBlobBytes, bucket)
		}
		ct := ""
		if opts, ok := L.Get(4).(*lua.LTable); ok {
			if v, ok := opts.RawGetString("content_type").(lua.LString); ok {
				ct = string(v)
			}
		} else if L.Get(4) != lua.LNil {
			L.ArgError(4, "options must be a table like {content_type = \"image/png\"}")
		}
		meta, err := st.host().BlobPut(st.call.ctx, st.call.function, bucket, key, []byte(data), ct)
		st.hostErr(L, "blobs.put", err)
		L.Push(blobMetaTable(L, meta))
		return 1
	}))
	m.RawSetString("list", L.NewFunction(func(L *lua.LState) int {
		bucket := L.CheckString(1)
		prefix := L.OptString(2, "")
		cursor := L.OptString(3, "")
		items, next, err := st.host().BlobList(st.call.ctx, st.call.function, bucket, prefix, cursor)
		st.hostErr(L, "blobs.list", err)
		out := L.CreateTable(len(items), 0)
		for _, it := range items {
			out.Append(blobMetaTable(L, it))
		}
		out.Metatable = st.json.arrayMT
		L.Push(out)
		if next == "" {
			L.Push(lua.LNil)
		} else {
			L.Push(lua.LString(next))
		}
		return 2
	}))
	m.RawSetString("delete", L.NewFunction(func(L *lua.LState) int {
		bucket, key := checkBlobName(L)
		found, err := st.host().BlobDelete(st.call.ctx, st.call.function, bucket, key)
		st.hostErr(L, "blobs.delete", err)
		L.Push(lua.LBool(found))
		return 1
	}))
	m.RawSetString("url", L.NewFunction(func(L *lua.LState) int {
		bucket, key := checkBlobName(L)
		secs := L.OptNumber(3, 3600)
		u, err := st.host().BlobURL(st.call.ctx, st.call.function, bucket, key, time.Duration(float64(secs)*float64(time.Second)))
		st.hostErr(L, "blobs.url", err)
		L.Push(lua.LString(u))
		return 1
	}))
	L.SetGlobal("blobs", m)
}

func checkBlobName(L *lua.LState) (bucket, key string) {
	bucket, key = L.CheckString(1), L.CheckString(2)
	if key == "" || len(key) > 1024 {
		L.ArgError(2, "key must be 1 to 1024 bytes")
	}
	return bucket, key
}

func blobMetaTable(L *lua.LState, m wire.BlobMeta) *lua.LTable {
	t := L.CreateTable(0, 5)
	t.RawSetString("key", lua.LString(m.Key))
	t.RawSetString("size", lua.LNumber(m.Size))
	t.RawSetString("content_type", lua.LString(m.ContentType))
	t.RawSetString("etag", lua.LString(m.ETag))
	t.RawSetString("updated_at", lua.LString(m.UpdatedAt.UTC().Format(time.RFC3339Nano)))
	return t
}
