"""Enumerate Vulkan or OpenCL devices through the system loaders, in a child process.

Run as a *script* (``python -I gpu_probe.py vulkan``) by :mod:`facade.devices`:
loading a GPU driver can crash or hang a process (SEEDS.md: about 1% of Android
devices crash merely loading OpenCL), so this file imports nothing but the
standard library and prints one JSON document on stdout.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import sys

_VK_TYPES = {0: "other", 1: "integrated", 2: "discrete", 3: "virtual", 4: "cpu"}
_CL_DEVICE_TYPES = {1: "default", 2: "cpu", 4: "gpu", 8: "accelerator", 16: "custom"}


def _load(names: list[str]) -> ctypes.CDLL:
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    found = ctypes.util.find_library(names[0].removeprefix("lib").split(".so")[0])
    if found:
        return ctypes.CDLL(found)
    raise OSError(f"none of {names} could be loaded")


def vulkan_devices() -> list[dict]:
    """Physical devices seen by the Vulkan loader, with their type and driver version."""
    vk = _load(["libvulkan.so.1", "libvulkan.so", "libvulkan.1.dylib", "vulkan-1.dll"])

    class InstanceCreateInfo(ctypes.Structure):
        _fields_ = [
            ("sType", ctypes.c_int),
            ("pNext", ctypes.c_void_p),
            ("flags", ctypes.c_uint32),
            ("pApplicationInfo", ctypes.c_void_p),
            ("enabledLayerCount", ctypes.c_uint32),
            ("ppEnabledLayerNames", ctypes.c_void_p),
            ("enabledExtensionCount", ctypes.c_uint32),
            ("ppEnabledExtensionNames", ctypes.c_void_p),
        ]

    info = InstanceCreateInfo(sType=1)  # VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO
    instance = ctypes.c_void_p()
    rc = vk.vkCreateInstance(ctypes.byref(info), None, ctypes.byref(instance))
    if rc != 0:
        raise OSError(f"vkCreateInstance returned {rc}")
    try:
        count = ctypes.c_uint32(0)
        vk.vkEnumeratePhysicalDevices(instance, ctypes.byref(count), None)
        handles = (ctypes.c_void_p * count.value)()
        vk.vkEnumeratePhysicalDevices(instance, ctypes.byref(count), handles)
        devices = []
        for handle in handles[: count.value]:
            # VkPhysicalDeviceProperties: 5 uint32 fields, then deviceName[256]; the
            # limits that follow are large, so read into a generous raw buffer.
            raw = ctypes.create_string_buffer(4096)
            vk.vkGetPhysicalDeviceProperties(ctypes.c_void_p(handle), raw)
            api, driver, vendor_id, device_id, dev_type = (
                int.from_bytes(raw.raw[i * 4 : i * 4 + 4], "little") for i in range(5)
            )
            name = raw.raw[20:276].split(b"\0", 1)[0].decode(errors="replace")
            devices.append(
                {
                    "api": "vulkan",
                    "name": name,
                    "vendor_id": vendor_id,
                    "device_id": device_id,
                    "type": _VK_TYPES.get(dev_type, "other"),
                    "api_version": f"{api >> 22}.{(api >> 12) & 0x3FF}.{api & 0xFFF}",
                    "driver_version": driver,
                }
            )
        return devices
    finally:
        vk.vkDestroyInstance(instance, None)


def _cl_string(fn, handle, param: int) -> str:
    size = ctypes.c_size_t(0)
    fn(handle, param, 0, None, ctypes.byref(size))
    buf = ctypes.create_string_buffer(size.value)
    fn(handle, param, size.value, buf, None)
    return buf.value.decode(errors="replace")


def opencl_devices() -> list[dict]:
    """Devices of every OpenCL platform the ICD loader finds."""
    cl = _load(["libOpenCL.so.1", "libOpenCL.so", "/System/Library/Frameworks/OpenCL.framework/OpenCL"])
    n = ctypes.c_uint32(0)
    if cl.clGetPlatformIDs(0, None, ctypes.byref(n)) != 0 or n.value == 0:
        return []
    platforms = (ctypes.c_void_p * n.value)()
    cl.clGetPlatformIDs(n.value, platforms, None)
    devices = []
    for platform in platforms:
        pname = _cl_string(cl.clGetPlatformInfo, ctypes.c_void_p(platform), 0x0902)  # CL_PLATFORM_NAME
        count = ctypes.c_uint32(0)
        if cl.clGetDeviceIDs(ctypes.c_void_p(platform), 0xFFFFFFFF, 0, None, ctypes.byref(count)) != 0:
            continue
        ids = (ctypes.c_void_p * count.value)()
        cl.clGetDeviceIDs(ctypes.c_void_p(platform), 0xFFFFFFFF, count.value, ids, None)
        for dev in ids:
            dtype = ctypes.c_uint64(0)
            cl.clGetDeviceInfo(ctypes.c_void_p(dev), 0x1000, 8, ctypes.byref(dtype), None)  # CL_DEVICE_TYPE
            devices.append(
                {
                    "api": "opencl",
                    "platform": pname,
                    "name": _cl_string(cl.clGetDeviceInfo, ctypes.c_void_p(dev), 0x102B),
                    "vendor": _cl_string(cl.clGetDeviceInfo, ctypes.c_void_p(dev), 0x102C),
                    "driver_version": _cl_string(cl.clGetDeviceInfo, ctypes.c_void_p(dev), 0x102D),
                    "type": next((v for k, v in _CL_DEVICE_TYPES.items() if dtype.value & k and k != 1), "other"),
                }
            )
    return devices


if __name__ == "__main__":
    probe = {"vulkan": vulkan_devices, "opencl": opencl_devices}[sys.argv[1]]
    json.dump(probe(), sys.stdout)
