package cqctest

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	cqc "github.com/crypto-quant/cqc/packages/go"
	_ "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
)

// Every size rule of the service requests: a message breaking only that rule gets, from the pre-check, a
// subset of what the full validator reports (same field, rule id and message).
func TestSizeViolationsAgreeWithTheValidator(t *testing.T) {
	checked := 0
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		d := mt.Descriptor()
		if !strings.HasPrefix(string(d.FullName()), "cqc.services.") {
			return true
		}
		fields := d.Fields()
		for i := 0; i < fields.Len(); i++ {
			fd := fields.Get(i)
			rules := fieldRules(fd)
			if rules == nil || fd.IsMap() {
				continue
			}
			m := mt.New()
			switch {
			case fd.IsList() && rules.GetRepeated().HasMaxItems():
				if rules.GetRepeated().GetMaxItems() > 100 {
					continue
				}
				list := m.Mutable(fd).List()
				for j := uint64(0); j <= rules.GetRepeated().GetMaxItems(); j++ {
					list.Append(list.NewElement())
				}
			case !fd.IsList() && fd.Kind() == protoreflect.StringKind && rules.GetString().HasMaxLen():
				m.Set(fd, protoreflect.ValueOfString(strings.Repeat("\u00e9", int(rules.GetString().GetMaxLen())+1)))
			default:
				continue
			}
			quick := sizeViolations(m.Interface())
			full, err := cqc.Violations(m.Interface())
			if err != nil || len(quick) == 0 {
				t.Fatalf("%s.%s: quick %v full %v %v", d.FullName(), fd.Name(), quick, full, err)
			}
			for _, q := range quick {
				found := false
				for _, f := range full {
					found = found || f == q
				}
				if !found {
					t.Errorf("%s.%s: %v not among %v", d.FullName(), fd.Name(), q, full)
				}
			}
			checked++
		}
		return true
	})
	if checked < 30 {
		t.Fatalf("only %d cases", checked)
	}
}

func TestUnexpectedErrorIsInternalWithoutItsText(t *testing.T) {
	err := errorStatus(errors.New("secret-detail /etc/keys/api.pem"))
	st := status.Convert(err)
	if st.Code() != codes.Internal || strings.Contains(st.Message(), "secret") ||
		!strings.HasPrefix(st.Message(), "internal error (correlation_id=") || len(st.Message()) != len("internal error (correlation_id=)")+32 {
		t.Fatalf("%v", st)
	}
}
