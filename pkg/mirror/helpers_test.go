package mirror

import "k8s.io/apimachinery/pkg/util/intstr"

func intOrStr(i int32) intstr.IntOrString { return intstr.FromInt32(i) }
