#version 330 core
// Pass 2: colour controls on the crossfaded frame. Order: hue, saturation, contrast, brightness, blackout.
in vec2 v_ndc;
out vec4 f_color;

uniform sampler2D u_image;    // pass 1's output, the same size as the target
uniform mat3 u_hue;           // rotation about the grey axis by the hue angle (built on the CPU)
uniform float u_saturation;   // 0..2: 0 = grey, 1 = unchanged
uniform float u_contrast;     // 0..3 around mid grey: 1 = unchanged
uniform float u_brightness;   // -1..1, added
uniform float u_blackout;     // 0..1 fade to black: 1 is exactly black
uniform float u_audio_bass_hit;  // 0..1, 1 on a kick, decaying (vj/audio/uniforms.py: every u_audio_*)
uniform float u_audio_amount;    // 0..2 the audio.amount parameter: scales every audio reaction

const vec3 LUMA = vec3(0.2126, 0.7152, 0.0722);  // Rec. 709

void main() {
    // Same size as the target: one texel per fragment, no filtering needed.
    vec3 c = texelFetch(u_image, ivec2(gl_FragCoord.xy), 0).rgb;
    c = u_hue * c;
    c = mix(vec3(dot(c, LUMA)), c, u_saturation);
    // a kick punches the contrast a little, at display rate (generated frames crossfade too slowly)
    c = (c - 0.5) * (u_contrast * (1.0 + 0.2 * u_audio_amount * u_audio_bass_hit)) + 0.5 + u_brightness;
    c = clamp(c, 0.0, 1.0) * (1.0 - u_blackout);
    f_color = vec4(c, 1.0);
}
