package verifier

import (
	"reflect"
	"unsafe"

	"github.com/authkit-go/authkit"
)

// claimsField locates authkit.Principal's unexported claimsJSON field,
// which Principal.DecodeClaims reads. The root package
// imports none of its sub-packages (but keys), so it cannot offer a setter
// that only this module may call; the verifier writes the fields at the
// offset found here, once, by name and exact type. ok is false if it
// ever changes: DecodeClaims then falls back to Claims, and
// TestDecodeClaimsPrecision fails.
var claimsField = func() (f struct {
	offset uintptr
	ok     bool
}) {
	j, ok := reflect.TypeFor[authkit.Principal]().FieldByName("claimsJSON")
	if ok && j.Type == reflect.TypeFor[string]() {
		f.offset, f.ok = j.Offset, true
	}
	return f
}()

// setClaimsSource records on p the verified claims set payload. It does
// not allocate.
func setClaimsSource(p *authkit.Principal, payload string) {
	if claimsField.ok {
		*(*string)(unsafe.Add(unsafe.Pointer(p), claimsField.offset)) = payload
	}
}
