#version 330 core
// Pass 1: the previous and the newest generated frame, each moved by its own camera, mixed.
in vec2 v_ndc;
out vec4 f_color;

uniform sampler2D u_prev;
uniform sampler2D u_new;
uniform mat3 u_prev_uv;   // NDC -> texture uv for the previous frame (motion + cover fit), see vj.motion
uniform mat3 u_new_uv;    // the same for the newest frame
uniform float u_mix;      // 0 = previous only, 1 = newest only; already shaped by the curve on the CPU
uniform bool u_has_prev;  // false: there is no previous frame, show the newest alone

// Mirrored wrap: uv outside 0..1 reflects back inside, so zooming out or panning never shows a border.
vec2 mirror(vec2 uv) {
    return 1.0 - abs(1.0 - mod(uv, 2.0));
}

vec3 layer(sampler2D tex, mat3 ndc_to_uv) {
    vec2 uv = (ndc_to_uv * vec3(v_ndc, 1.0)).xy;
    return texture(tex, mirror(uv)).rgb;
}

void main() {
    vec3 color = layer(u_new, u_new_uv);
    // Skip the second texture fetch when it cannot show (saves a fetch per pixel on software GL).
    if (u_has_prev && u_mix < 1.0) {
        color = mix(layer(u_prev, u_prev_uv), color, u_mix);
    }
    f_color = vec4(color, 1.0);
}
