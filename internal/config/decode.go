package config

import (
	"encoding"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// decode walks the TOML document key by key against the Config struct, so
// that one wrong key does not hide the others: BurntSushi/toml stops at the
// first type error of a whole-document decode, and MetaData.Undecoded cannot
// report the keys after it. Each table is decoded into toml.Primitive values
// and each leaf separately with MetaData.PrimitiveDecode (the library's own
// conversions), collecting an error per bad key. Keys match the toml tags
// exactly (case-sensitive), stricter than the library's fallback.
func decode(data []byte, cfg *Config, errs *Errors) {
	var top map[string]toml.Primitive
	md, err := toml.Decode(string(data), &top)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			line := max(perr.Position.Line, 1)
			errs.add(fmt.Sprintf("line %d", line), "syntax error: "+perr.Message)
		} else {
			errs.add("line 1", "syntax error: "+err.Error())
		}
		return
	}
	d := &decoder{md: &md, errs: &Errors{}}
	d.table(top, reflect.ValueOf(cfg).Elem(), "")
	// Report in the order of the file.
	order := map[string]int{}
	for i, k := range md.Keys() {
		if _, ok := order[k.String()]; !ok {
			order[k.String()] = i
		}
	}
	pos := func(path string) int {
		if i, ok := order[indexRE.ReplaceAllString(path, "")]; ok {
			return i
		}
		return len(order)
	}
	sort.SliceStable(d.errs.Fields, func(i, j int) bool {
		return pos(d.errs.Fields[i].Path) < pos(d.errs.Fields[j].Path)
	})
	errs.Fields = append(errs.Fields, d.errs.Fields...)
}

var indexRE = regexp.MustCompile(`\[\d+\]`)

type decoder struct {
	md   *toml.MetaData
	errs *Errors
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// tomlFields maps the toml tag of each field of struct type t to its index.
func tomlFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		if name != "" && name != "-" {
			out[name] = i
		}
	}
	return out
}

// table decodes the keys of one TOML table into struct v.
func (d *decoder) table(m map[string]toml.Primitive, v reflect.Value, prefix string) {
	fields := tomlFields(v.Type())
	for _, k := range slices.Sorted(maps.Keys(m)) {
		// Quoted like TOML when needed: "a b", "".
		path := toml.Key{k}.String()
		if prefix != "" {
			path = prefix + "." + path
		}
		i, ok := fields[k]
		if !ok {
			d.errs.add(path, "unknown key")
			continue
		}
		d.value(m[k], v.Field(i), path)
	}
}

// subTable decodes p as a table; ok is false (and the problem recorded) when
// it is not one.
func (d *decoder) subTable(p toml.Primitive, path, want string) (map[string]toml.Primitive, bool) {
	var sub map[string]toml.Primitive
	// The library returns no error for a non-table here, only a nil map.
	if err := d.md.PrimitiveDecode(p, &sub); err != nil || sub == nil {
		d.errs.add(path, "expected "+want+", got "+d.describe(p))
		return nil, false
	}
	return sub, true
}

// value decodes one key into fv.
func (d *decoder) value(p toml.Primitive, fv reflect.Value, path string) {
	t := fv.Type()
	switch {
	case t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(textUnmarshaler):
		if sub, ok := d.subTable(p, path, "a table ["+path+"]"); ok {
			d.table(sub, fv, path)
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		var items []toml.Primitive
		if err := d.md.PrimitiveDecode(p, &items); err != nil {
			d.errs.add(path, "expected an array of tables [["+path+"]], got "+d.describe(p))
			return
		}
		out := reflect.MakeSlice(t, len(items), len(items))
		for i, it := range items {
			ip := fmt.Sprintf("%s[%d]", path, i)
			if sub, ok := d.subTable(it, ip, "a table"); ok {
				d.table(sub, out.Index(i), ip)
			}
		}
		fv.Set(out)
	default:
		// Decode into a fresh value: a failed decode leaves the default.
		tmp := reflect.New(t)
		if err := d.md.PrimitiveDecode(p, tmp.Interface()); err != nil {
			var perr toml.ParseError
			if errors.As(err, &perr) {
				d.errs.add(path, perr.Message)
			} else {
				d.errs.add(path, "expected "+wantType(t)+", got "+d.describe(p))
			}
			return
		}
		fv.Set(tmp.Elem())
	}
}

// wantType names what a Go field type accepts, for messages.
func wantType(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[Duration]():
		return `a duration string like "30s"`
	case t == reflect.TypeFor[Toggle]():
		return `true, false or "auto"`
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "an integer"
	case t.Kind() == reflect.Slice:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(wantType(t.Elem()), "a "), "an ") + "s"
	}
	return t.String()
}

// describe names the TOML type of p's value (never the value itself: it
// may be a secret).
func (d *decoder) describe(p toml.Primitive) string {
	var raw any
	if err := d.md.PrimitiveDecode(p, &raw); err != nil {
		return "an unreadable value"
	}
	return describeRaw(raw)
}

func describeRaw(raw any) string {
	switch v := raw.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time, toml.Primitive:
		return "a date/time"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	case []any:
		if len(v) == 0 {
			return "an empty array"
		}
		for _, e := range v {
			if _, ok := e.(string); !ok {
				return "an array containing " + describeRaw(e)
			}
		}
		return "an array of strings"
	}
	return fmt.Sprintf("a %T", raw)
}
